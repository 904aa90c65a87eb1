"""Every query on transfers."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from clients.transfer.schemas import TransferStatus
from services.transfer.transfers.models import Transfer


class TransferRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, transfer: Transfer) -> None:
        self.session.add(transfer)

    async def get(self, transfer_uuid: UUID) -> Transfer | None:
        return await self.session.get(Transfer, transfer_uuid)

    async def get_for_update(self, transfer_uuid: UUID) -> Transfer | None:
        return await self.session.get(Transfer, transfer_uuid, with_for_update=True)

    async def page(self, *, status: TransferStatus | None, limit: int, offset: int) -> tuple[list[Transfer], int]:
        query = select(Transfer)
        count = select(func.count()).select_from(Transfer)
        if status is not None:
            query = query.where(col(Transfer.status) == status)
            count = count.where(col(Transfer.status) == status)
        query = query.order_by(col(Transfer.created_at).desc(), col(Transfer.uuid)).limit(limit).offset(offset)
        items = list((await self.session.execute(query)).scalars())
        total = int((await self.session.execute(count)).scalar_one())
        return items, total
