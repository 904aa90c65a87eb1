"""Recording the progress of micro-service jobs, as workers report it."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from clients.ingest.schemas import JobRead, JobUpsert
from servicekit.pagination import Page, PageParams
from servicekit.problems import NotFound
from services.ingest.ingests.repository import IngestRepository
from services.ingest.jobs.models import Job
from services.ingest.jobs.repository import JobRepository


def job_read(job: Job) -> JobRead:
    return JobRead.model_validate(job, from_attributes=True)


async def upsert_job(session: AsyncSession, ingest_uuid: UUID, key: str, body: JobUpsert) -> JobRead:
    """Create or update the job `key`; a repeated report (a retried activity) just overwrites it."""
    if await IngestRepository(session).get(ingest_uuid) is None:
        raise NotFound("Ingest", ingest_uuid)
    jobs = JobRepository(session)
    job = await jobs.get(ingest_uuid, key)
    if job is None:
        job = Job(ingest_uuid=ingest_uuid, key=key, **body.model_dump())
        try:
            async with session.begin_nested():
                jobs.add(job)
        except IntegrityError:
            # Two reports of one job raced; the other created it, so update that one.
            job = await jobs.get(ingest_uuid, key)
            assert job is not None
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(job, field, value)
    await session.flush()
    return job_read(job)


async def list_jobs(session: AsyncSession, ingest_uuid: UUID, page: PageParams) -> Page[JobRead]:
    if await IngestRepository(session).get(ingest_uuid) is None:
        raise NotFound("Ingest", ingest_uuid)
    items, total = await JobRepository(session).page(ingest_uuid, limit=page.limit, offset=page.offset)
    return Page[JobRead](items=[job_read(j) for j in items], total=total, limit=page.limit, offset=page.offset)
