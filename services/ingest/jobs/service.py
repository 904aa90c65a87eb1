"""Recording the progress of micro-service jobs, as workers report it."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from clients.ingest.schemas import JobRead, JobUpsert, TaskRead, TaskRecord, TaskStatus
from servicekit.pagination import Page, PageParams
from servicekit.problems import NotFound
from services.ingest.ingests.repository import IngestRepository
from services.ingest.jobs.models import Job
from services.ingest.jobs.repository import JobRepository
from services.ingest.jobs.task_repository import TaskRepository
from services.ingest.notifications import events


def job_read(job: Job) -> JobRead:
    return JobRead.model_validate(job, from_attributes=True)


async def upsert_job(session: AsyncSession, ingest_uuid: UUID, key: str, body: JobUpsert) -> JobRead:
    """Create or update the job `key`; a repeated report (a retried activity) just overwrites it."""
    ingests = IngestRepository(session)
    ingest = await ingests.get(ingest_uuid)
    if ingest is None:
        raise NotFound("Ingest", ingest_uuid)
    jobs = JobRepository(session)
    job = await jobs.get(ingest_uuid, key)
    before = None if job is None else (job.status, job.files_done)
    if job is None:
        job = Job(ingest_uuid=ingest_uuid, key=key, **body.model_dump())
        try:
            async with session.begin_nested():
                jobs.add(job)
        except IntegrityError:
            # Two reports of one job raced; the other created it, so update that one.
            job = await jobs.get(ingest_uuid, key)
            assert job is not None
            before = (job.status, job.files_done)
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(job, field, value)
    await session.flush()
    read = job_read(job)
    if before != (job.status, job.files_done):  # a repeated report (a retried activity) is no news
        done = await ingests.files_done([ingest_uuid])
        await events.job_progressed(session, ingest, read, done.get(ingest_uuid, 0))
    return read


async def list_jobs(session: AsyncSession, ingest_uuid: UUID, page: PageParams) -> Page[JobRead]:
    if await IngestRepository(session).get(ingest_uuid) is None:
        raise NotFound("Ingest", ingest_uuid)
    items, total = await JobRepository(session).page(ingest_uuid, limit=page.limit, offset=page.offset)
    return Page[JobRead].of([job_read(j) for j in items], total, page)


async def record_tasks(session: AsyncSession, ingest_uuid: UUID, key: str, tasks: list[TaskRecord]) -> int:
    job = await JobRepository(session).get(ingest_uuid, key)
    if job is None:
        raise NotFound("Job", f"{ingest_uuid}/{key}")
    assert job.id is not None
    rows = [{**task.model_dump(), "job_id": job.id, "ingest_uuid": ingest_uuid} for task in tasks]
    await TaskRepository(session).upsert(rows)
    return len(rows)


async def list_tasks(session: AsyncSession, ingest_uuid: UUID, job_key: str | None, status: TaskStatus | None,
                     page: PageParams) -> Page[TaskRead]:
    if await IngestRepository(session).get(ingest_uuid) is None:
        raise NotFound("Ingest", ingest_uuid)
    rows, total = await TaskRepository(session).page(ingest_uuid, job_key=job_key, status=status, limit=page.limit,
                                                     offset=page.offset)
    items = [TaskRead.model_validate({**task.model_dump(), "job_key": key}) for task, key in rows]
    return Page[TaskRead].of(items, total, page)
