"""Every query on the format policy registry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from services.ingest.fpr.models import FprCommand, FprFormat, FprRule, FprState, FprTool

Row = TypeVar("Row", bound=SQLModel)


class FprRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, model: type[Row], key: Any) -> Row | None:
        return await self.session.get(model, key)

    async def all(self, model: type[Row]) -> list[Row]:
        key = next(iter(model.__table__.primary_key.columns))  # type: ignore[attr-defined]
        return list((await self.session.execute(select(model).order_by(key))).scalars())

    async def formats_page(self, group: str | None, limit: int, offset: int) -> tuple[list[FprFormat], int]:
        filters = [col(FprFormat.group) == group] if group else []
        return await self._page(FprFormat, filters, [col(FprFormat.puid)], limit, offset)

    async def tools_page(self, limit: int, offset: int) -> tuple[list[FprTool], int]:
        return await self._page(FprTool, [], [col(FprTool.name)], limit, offset)

    async def commands_page(self, tool: str | None, limit: int, offset: int) -> tuple[list[FprCommand], int]:
        filters = [col(FprCommand.tool) == tool] if tool else []
        return await self._page(FprCommand, filters, [col(FprCommand.name)], limit, offset)

    async def _page(self, model: type[Row], filters: Sequence[Any], order: Sequence[Any], limit: int,
                    offset: int) -> tuple[list[Row], int]:
        query = select(model).where(*filters).order_by(*order).limit(limit).offset(offset)
        count = select(func.count()).select_from(model).where(*filters)
        items = list((await self.session.execute(query)).scalars())
        return items, int((await self.session.execute(count)).scalar_one())

    async def rules_page(self, *, purpose: str | None, puid: str | None, command: str | None, enabled: bool | None,
                         limit: int, offset: int) -> tuple[list[FprRule], int]:
        filters = [
            clause for clause, value in (
                (col(FprRule.purpose) == purpose, purpose), (col(FprRule.puid) == puid, puid),
                (col(FprRule.command) == command, command), (col(FprRule.enabled) == enabled, enabled),
            ) if value is not None
        ]
        order = [col(FprRule.puid), col(FprRule.purpose), col(FprRule.command)]
        return await self._page(FprRule, filters, order, limit, offset)

    async def rule_by_key(self, purpose: str, puid: str, command: str) -> FprRule | None:
        query = select(FprRule).where(col(FprRule.purpose) == purpose, col(FprRule.puid) == puid,
                                      col(FprRule.command) == command)
        return (await self.session.execute(query)).scalars().first()

    async def enabled_rules(self, purpose: str | None) -> list[FprRule]:
        query = select(FprRule).where(col(FprRule.enabled))
        if purpose is not None:
            query = query.where(col(FprRule.purpose) == purpose)
        query = query.order_by(col(FprRule.puid), col(FprRule.purpose), col(FprRule.priority), col(FprRule.command))
        return list((await self.session.execute(query)).scalars())

    async def count_outcomes(self, rule: UUID, successes: int, failures: int, at: datetime) -> int:
        """Increments in the database, so concurrent reports from several workers all count."""
        statement = (
            update(FprRule).where(col(FprRule.uuid) == rule)
            .values(successes=FprRule.successes + successes, failures=FprRule.failures + failures,
                    last_used_at=at)
        )
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def record_tool_version(self, name: str, version: str) -> None:
        await self.session.execute(update(FprTool).where(col(FprTool.name) == name).values(version=version))

    async def format_names(self) -> dict[str, str]:
        """PUID -> name, as plain rows: the worker's rules name their formats, and loading every format as an ORM
        object for one column was most of the cost of resolving them."""
        rows = await self.session.execute(select(FprFormat.puid, FprFormat.name))  # type: ignore[call-overload]
        return {puid: name for puid, name in rows}

    async def format_groups(self) -> dict[str, str]:
        rows = await self.session.execute(select(FprFormat.puid, FprFormat.group))  # type: ignore[call-overload]
        return {puid: group for puid, group in rows}

    async def state(self) -> FprState:
        state = await self.session.get(FprState, 1)
        if state is None:
            state = FprState(id=1, shipped_version=0)
            self.session.add(state)
        return state

    def add(self, row: SQLModel) -> None:
        self.session.add(row)

    async def delete(self, row: SQLModel) -> None:
        await self.session.delete(row)

    async def flush(self) -> None:
        await self.session.flush()
