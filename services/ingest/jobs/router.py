"""HTTP operations on the jobs of an ingest."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from clients.ingest.schemas import JobRead, JobUpsert, TaskRead, TasksBulk, TaskStatus
from servicekit.auth import CallerDep
from servicekit.bulk import BulkRoute
from servicekit.deps import SessionDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.roles import Role, role_operation
from services.ingest.jobs import service

router = APIRouter(prefix="/ingests/{ingest_uuid}/jobs", tags=["jobs"], route_class=BulkRoute)

JobKey = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


@router.get(
    "", response_model=Page[JobRead], summary="List the micro-service jobs of an ingest",
    openapi_extra=role_operation(Role.reader),
)
async def list_ingest_jobs(ingest_uuid: UUID, session: SessionDep, page: PageDep, caller: CallerDep) -> Page[JobRead]:
    return await service.list_jobs(session, ingest_uuid, page)


@router.put(
    "/{key}/tasks", summary="Record the per-file results of a job (workers)", openapi_extra=internal_operation(),
)
async def record_ingest_tasks(
    ingest_uuid: UUID, key: JobKey, body: TasksBulk, session: SessionDep, caller: CallerDep
) -> dict[str, int]:
    """Idempotent: tasks are keyed by job and file, so a retried batch overwrites its own rows."""
    return {"recorded": await service.record_tasks(session, ingest_uuid, key, body.tasks)}


@router.put(
    "/{key}", response_model=JobRead, summary="Record a job's progress (workers)",
    openapi_extra=internal_operation(),
)
async def upsert_ingest_job(
    ingest_uuid: UUID, key: JobKey, body: JobUpsert, session: SessionDep, caller: CallerDep
) -> JobRead:
    return await service.upsert_job(session, ingest_uuid, key, body)


tasks_router = APIRouter(prefix="/ingests/{ingest_uuid}/tasks", tags=["jobs"])


@tasks_router.get(
    "", response_model=Page[TaskRead], summary="List the per-file tasks of an ingest",
    openapi_extra=role_operation(Role.reader),
)
async def list_ingest_tasks(
    ingest_uuid: UUID, session: SessionDep, page: PageDep, caller: CallerDep,
    job: Annotated[str | None, Query(description="Only the tasks of this job (its key).")] = None,
    status: Annotated[TaskStatus | None, Query(description="Only tasks with this outcome.")] = None,
) -> Page[TaskRead]:
    """Paginated: a 100,000-file package has that many tasks per job."""
    return await service.list_tasks(session, ingest_uuid, job, status, page)
