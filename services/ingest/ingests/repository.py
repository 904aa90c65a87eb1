"""Every query on ingests."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from clients.ingest.schemas import IngestStatus
from services.ingest.ingests.models import Ingest
from services.ingest.jobs.models import Job

# Jobs whose files_done count toward an ingest's progress are the per-batch jobs.
BATCH_JOB_PREFIX = "batch-"


class IngestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ingest_uuid: UUID) -> Ingest | None:
        return await self.session.get(Ingest, ingest_uuid)

    async def get_for_update(self, ingest_uuid: UUID) -> Ingest | None:
        return await self.session.get(Ingest, ingest_uuid, with_for_update=True)

    async def get_by_transfer(self, transfer_uuid: UUID) -> Ingest | None:
        result = await self.session.execute(select(Ingest).where(col(Ingest.transfer_uuid) == transfer_uuid))
        return result.scalar_one_or_none()

    def add(self, ingest: Ingest) -> None:
        self.session.add(ingest)

    async def flush(self) -> None:
        await self.session.flush()

    async def files_done(self, ingest_uuids: list[UUID]) -> dict[UUID, int]:
        if not ingest_uuids:
            return {}
        statement = (
            select(col(Job.ingest_uuid), func.coalesce(func.sum(col(Job.files_done)), 0))
            .where(col(Job.ingest_uuid).in_(ingest_uuids), col(Job.key).startswith(BATCH_JOB_PREFIX))
            .group_by(col(Job.ingest_uuid))
        )
        rows = await self.session.execute(statement)
        return {row[0]: int(row[1] or 0) for row in rows}

    async def page(self, *, status: IngestStatus | None, limit: int, offset: int) -> tuple[list[Ingest], int]:
        query = select(Ingest)
        count = select(func.count()).select_from(Ingest)
        if status is not None:
            query = query.where(col(Ingest.status) == status)
            count = count.where(col(Ingest.status) == status)
        query = query.order_by(col(Ingest.created_at).desc(), col(Ingest.uuid)).limit(limit).offset(offset)
        items = list((await self.session.execute(query)).scalars())
        total = int((await self.session.execute(count)).scalar_one())
        return items, total
