"""HTTP operations on the jobs of an ingest."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path

from clients.ingest.schemas import JobRead, JobUpsert
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from services.ingest.jobs import service

router = APIRouter(prefix="/ingests/{ingest_uuid}/jobs", tags=["jobs"])

JobKey = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


@router.get("", response_model=Page[JobRead], summary="List the micro-service jobs of an ingest")
async def list_ingest_jobs(ingest_uuid: UUID, session: SessionDep, page: PageDep, caller: CallerDep) -> Page[JobRead]:
    return await service.list_jobs(session, ingest_uuid, page)


@router.put(
    "/{key}", response_model=JobRead, summary="Record a job's progress (workers)",
    openapi_extra=internal_operation(),
)
async def upsert_ingest_job(
    ingest_uuid: UUID, key: JobKey, body: JobUpsert, session: SessionDep, caller: CallerDep
) -> JobRead:
    return await service.upsert_job(session, ingest_uuid, key, body)
