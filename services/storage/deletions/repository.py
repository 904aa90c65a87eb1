"""Queries on deletion requests."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from clients.storage.schemas import DeletionRequestStatus
from services.storage.deletions.models import DeletionRequest


class DeletionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, request_uuid: UUID) -> DeletionRequest | None:
        return await self.session.get(DeletionRequest, request_uuid, populate_existing=True)

    async def add(self, request: DeletionRequest) -> DeletionRequest:
        self.session.add(request)
        await self.session.flush()
        return request

    async def pending_for(self, package_uuid: UUID) -> DeletionRequest | None:
        rows = await self.session.execute(
            select(DeletionRequest)
            .where(col(DeletionRequest.package_uuid) == package_uuid,
                   col(DeletionRequest.status) == DeletionRequestStatus.pending)
            .limit(1)
        )
        return rows.scalar_one_or_none()

    async def listing(self, status: DeletionRequestStatus | None) -> list[DeletionRequest]:
        query = select(DeletionRequest).order_by(col(DeletionRequest.requested_at), col(DeletionRequest.uuid))
        if status is not None:
            query = query.where(col(DeletionRequest.status) == status)
        return list((await self.session.execute(query)).scalars())
