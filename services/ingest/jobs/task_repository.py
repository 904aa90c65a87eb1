"""Every query on tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from clients.ingest.schemas import TaskStatus
from servicekit.db import upsert
from services.ingest.jobs.models import Job
from services.ingest.jobs.task_models import Task


class TaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or overwrite by (job, path): a retried batch rewrites its tasks instead of adding rows."""
        await upsert(self.session, Task, rows, ("job_id", "path"))

    async def page(self, ingest_uuid: UUID, *, job_key: str | None, status: TaskStatus | None, limit: int,
                   offset: int) -> tuple[list[tuple[Task, str]], int]:
        conditions = [col(Task.ingest_uuid) == ingest_uuid]
        if job_key is not None:
            conditions.append(col(Job.key) == job_key)
        if status is not None:
            conditions.append(col(Task.status) == status)
        joined = select(Task, col(Job.key)).join(Job, col(Job.id) == col(Task.job_id)).where(*conditions)
        rows = await self.session.execute(joined.order_by(col(Task.id)).limit(limit).offset(offset))
        count = select(func.count()).select_from(Task).join(Job, col(Job.id) == col(Task.job_id)).where(*conditions)
        total = int((await self.session.execute(count)).scalar_one())
        return [(row[0], row[1]) for row in rows], total
