"""Every query on jobs."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.ingest.jobs.models import Job


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ingest_uuid: UUID, key: str) -> Job | None:
        result = await self.session.execute(select(Job).where(col(Job.ingest_uuid) == ingest_uuid, col(Job.key) == key))
        return result.scalar_one_or_none()

    def add(self, job: Job) -> None:
        self.session.add(job)

    async def page(self, ingest_uuid: UUID, *, limit: int, offset: int) -> tuple[list[Job], int]:
        query = (
            select(Job).where(col(Job.ingest_uuid) == ingest_uuid).order_by(col(Job.id)).limit(limit).offset(offset)
        )
        count = select(func.count()).select_from(Job).where(col(Job.ingest_uuid) == ingest_uuid)
        items = list((await self.session.execute(query)).scalars())
        total = int((await self.session.execute(count)).scalar_one())
        return items, total
