"""HTTP operations on ingests."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from clients.ingest.schemas import IngestCreate, IngestRead, IngestStatus, IngestUpdate
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from services.ingest.ingests import service
from services.ingest.processing.temporal import start_ingest_workflow

router = APIRouter(prefix="/ingests", tags=["ingests"])


@router.post(
    "",
    response_model=IngestRead,
    status_code=status.HTTP_201_CREATED,
    summary="Start processing a transfer into an AIP",
    responses={200: {"model": IngestRead, "description": "The transfer already has this ingest"}},
    # Only the transfer service starts ingests.
    openapi_extra=internal_operation(),
)
async def create_ingest(
    body: IngestCreate, request: Request, response: Response, session: SessionDep, caller: CallerDep
) -> IngestRead:
    """Idempotent per transfer: asking again answers the existing ingest (200) and makes sure it runs."""
    ingest, created = await service.create_ingest(session, body)
    # The workflow's first activity reads this record, so it must be committed before the start.
    await session.commit()
    settings = request.app.state.settings
    temporal = await request.app.state.temporal()
    await start_ingest_workflow(temporal, settings, service.workflow_params(ingest, settings))
    if not created:
        response.status_code = status.HTTP_200_OK
    return await service.read_ingest(session, ingest.uuid)


@router.get("", response_model=Page[IngestRead], summary="List ingests")
async def list_ingests(
    session: SessionDep, page: PageDep, caller: CallerDep,
    status_filter: Annotated[IngestStatus | None, Query(alias="status")] = None,
) -> Page[IngestRead]:
    return await service.list_ingests(session, status_filter, page)


@router.get("/{ingest_uuid}", response_model=IngestRead, summary="Get an ingest and its progress")
async def get_ingest(ingest_uuid: UUID, session: SessionDep, caller: CallerDep) -> IngestRead:
    return await service.read_ingest(session, ingest_uuid)


@router.patch(
    "/{ingest_uuid}", response_model=IngestRead, summary="Report an ingest's progress (workers)",
    openapi_extra=internal_operation(),
)
async def update_ingest(ingest_uuid: UUID, body: IngestUpdate, session: SessionDep, caller: CallerDep) -> IngestRead:
    return await service.update_ingest(session, ingest_uuid, body)
