"""HTTP operations on ingests."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from clients.ingest.processing import DecisionAnswer
from clients.ingest.schemas import IngestCreate, IngestRead, IngestStatus, IngestUpdate
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.roles import Role, role_operation
from services.ingest.ingests import service

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
    """Idempotent per transfer: asking again answers the existing ingest (200).

    The ingest waits in line (status `queued`, with its `queue_position`) until admission control gives it a
    processing slot.
    """
    ingest, created = await service.create_ingest(session, body)
    ingest_uuid = ingest.uuid
    # Admission reads this record in its own transaction, so it must be committed first.
    await session.commit()
    await request.app.state.admission.admit()
    session.expire_all()  # admission changed the record in its own transaction
    if not created:
        response.status_code = status.HTTP_200_OK
    return await service.read_ingest(session, ingest_uuid)


@router.get("", response_model=Page[IngestRead], summary="List ingests", openapi_extra=role_operation(Role.reader))
async def list_ingests(
    session: SessionDep, page: PageDep, caller: CallerDep,
    status_filter: Annotated[IngestStatus | None, Query(alias="status")] = None,
) -> Page[IngestRead]:
    return await service.list_ingests(session, status_filter, page)


@router.get(
    "/{ingest_uuid}", response_model=IngestRead, summary="Get an ingest and its progress",
    openapi_extra=role_operation(Role.reader),
)
async def get_ingest(ingest_uuid: UUID, session: SessionDep, caller: CallerDep) -> IngestRead:
    return await service.read_ingest(session, ingest_uuid)


@router.post(
    "/{ingest_uuid}/decisions", response_model=IngestRead, status_code=status.HTTP_202_ACCEPTED,
    summary="Answer the decision an ingest is waiting for",
    openapi_extra=role_operation(Role.archivist),
)
async def answer_ingest_decision(
    ingest_uuid: UUID, body: DecisionAnswer, request: Request, session: SessionDep, caller: CallerDep
) -> IngestRead:
    """Processing resumes with the choice; the answer is refused unless it is one of the decision's choices.

    The answer is recorded only once the ingest's workflow has accepted it; when processing cannot be reached the
    answer is refused with 503 and may be given again.
    """
    await service.answer_decision(session, request.app.state.temporal, ingest_uuid, body,
                                  request.app.state.settings.decision_timeout_seconds)
    return await service.read_ingest(session, ingest_uuid)


@router.patch(
    "/{ingest_uuid}", response_model=IngestRead, summary="Report an ingest's progress (workers)",
    openapi_extra=internal_operation(),
)
async def update_ingest(
    ingest_uuid: UUID, body: IngestUpdate, request: Request, session: SessionDep, caller: CallerDep
) -> IngestRead:
    updated = await service.update_ingest(session, ingest_uuid, body)
    if updated.status in service.TERMINAL:
        # A slot was freed: hand it to the next in line now rather than at the next round.
        await session.commit()
        await request.app.state.admission.admit()
    return updated
