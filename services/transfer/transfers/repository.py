"""Every query on transfers."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from clients.transfer.schemas import TransferStatus
from services.transfer.transfers.models import Transfer


class TransferRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def count_by_status(self) -> dict[TransferStatus, int]:
        statement = select(col(Transfer.status), func.count()).group_by(col(Transfer.status))
        rows = (await self.session.execute(statement)).all()
        return {TransferStatus(status): int(count) for status, count in rows}

    def add(self, transfer: Transfer) -> None:
        self.session.add(transfer)

    async def get(self, transfer_uuid: UUID) -> Transfer | None:
        return await self.session.get(Transfer, transfer_uuid)

    async def get_for_update(self, transfer_uuid: UUID) -> Transfer | None:
        return await self.session.get(Transfer, transfer_uuid, with_for_update=True)

    async def abandoned(self, now: datetime) -> list[Transfer]:
        """Transfers still `received` whose lease ran out (or that never had one: made before leases existed),
        locked; those another process is recovering right now are skipped."""
        query = (
            select(Transfer)
            .where(col(Transfer.status) == TransferStatus.received,
                   or_(col(Transfer.lease_expires_at).is_(None), col(Transfer.lease_expires_at) < now))
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(query)).scalars())

    async def renew_leases(self, owner: str, deadline: datetime) -> int:
        statement = (
            update(Transfer)
            .where(col(Transfer.owner) == owner, col(Transfer.status) == TransferStatus.received)
            .values(lease_expires_at=deadline)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    async def delete(self, transfer: Transfer) -> None:
        await self.session.delete(transfer)

    async def page(
        self, *, status: TransferStatus | None, include_hidden: bool, name: str | None, limit: int, offset: int
    ) -> tuple[list[Transfer], int]:
        query = select(Transfer)
        count = select(func.count()).select_from(Transfer)
        conditions = []
        if status is not None:
            conditions.append(col(Transfer.status) == status)
        if not include_hidden:
            conditions.append(col(Transfer.hidden).is_(False))
        if name is not None:
            conditions.append(col(Transfer.name) == name)
        if conditions:
            query = query.where(*conditions)
            count = count.where(*conditions)
        query = query.order_by(col(Transfer.created_at).desc(), col(Transfer.uuid)).limit(limit).offset(offset)
        items = list((await self.session.execute(query)).scalars())
        total = int((await self.session.execute(count)).scalar_one())
        return items, total
