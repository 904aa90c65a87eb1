"""Every query on normalization outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from servicekit.db import upsert
from services.ingest.normalization.models import NormalizationOutcome

KEY = ("ingest_uuid", "attempt", "path", "purpose")


class NormalizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or overwrite by (ingest, attempt, file, purpose): a retried batch rewrites its own rows."""
        await upsert(self.session, NormalizationOutcome, rows, KEY)

    async def latest_attempt(self, ingest_uuid: UUID) -> int | None:
        query = select(func.max(col(NormalizationOutcome.attempt))).where(
            col(NormalizationOutcome.ingest_uuid) == ingest_uuid)
        value = (await self.session.execute(query)).scalar_one_or_none()
        return int(value) if value is not None else None

    async def decide(self, ingest_uuid: UUID, attempt: int, decision: str) -> int:
        result = await self.session.execute(
            update(NormalizationOutcome)
            .where(col(NormalizationOutcome.ingest_uuid) == ingest_uuid, col(NormalizationOutcome.attempt) == attempt)
            .values(decision=decision)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def page(self, ingest_uuid: UUID, attempt: int, *, purpose: str | None, outcome: str | None, limit: int,
                   offset: int) -> tuple[list[NormalizationOutcome], int]:
        conditions: list[ColumnElement[bool]] = [col(NormalizationOutcome.ingest_uuid) == ingest_uuid,
                                                 col(NormalizationOutcome.attempt) == attempt]
        if purpose is not None:
            conditions.append(col(NormalizationOutcome.purpose) == purpose)
        if outcome is not None:
            conditions.append(col(NormalizationOutcome.outcome) == outcome)
        query = (select(NormalizationOutcome).where(*conditions)
                 .order_by(col(NormalizationOutcome.path), col(NormalizationOutcome.purpose))
                 .limit(limit).offset(offset))
        count = select(func.count()).select_from(NormalizationOutcome).where(*conditions)
        items = list((await self.session.execute(query)).scalars())
        return items, int((await self.session.execute(count)).scalar_one())
