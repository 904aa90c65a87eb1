"""HTTP operations on ingests."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from clients.ingest.processing import DecisionAnswer
from clients.ingest.schemas import CleanUpRead, IngestCreate, IngestRead, IngestStatus, IngestUpdate
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep, SessionsDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.problems import ProblemDetail
from servicekit.roles import Role, role_operation
from services.ingest.cleanup import service as cleanup
from services.ingest.ingests import service
from services.ingest.processing.temporal import cancel_ingest_workflow

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
    request.app.state.admission.remember_trace(ingest_uuid)
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
    if body.status is not None:
        await session.commit()
        request.app.state.notifier.poke()
        if updated.status in service.TERMINAL:
            # A slot was freed: hand it to the next in line now rather than at the next round.
            await request.app.state.admission.admit()
    return updated


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ProblemDetail, "description": "The ingest is not in a state that allows this"},
}


@router.post(
    "/{ingest_uuid}/cancel", response_model=IngestRead, status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel a queued, running or waiting ingest", responses=CONFLICT,
    openapi_extra=role_operation(Role.archivist),
)
async def cancel_ingest(ingest_uuid: UUID, request: Request, session: SessionDep, caller: CallerDep) -> IngestRead:
    """A queued ingest is cancelled at once. A started one is asked to stop: its running activities stop at their
    next heartbeat, and only then does its status say `cancelled` (with `cancelled_by` and `cancelled_at`), so
    its files may be cleaned up from that moment. A finished ingest cannot be cancelled (409); cancelling a
    cancelled one again answers it as it is. The processing slot is freed; the transfer follows."""
    # Under the admission lock no workflow starts meanwhile: a queued ingest is either never started, or started.
    async with request.app.state.admission.lock:
        ingest, started = await service.request_cancel(session, ingest_uuid, caller)
        workflow = ingest.workflow_id
        await session.commit()
        if started and not await cancel_ingest_workflow(await request.app.state.temporal(), workflow):
            await service.cancel_without_workflow(session, ingest_uuid)
            await session.commit()
    request.app.state.notifier.poke()
    await request.app.state.admission.admit()
    session.expire_all()
    return await service.read_ingest(session, ingest_uuid)


@router.post(
    "/{ingest_uuid}/retry", response_model=IngestRead, status_code=status.HTTP_201_CREATED,
    summary="Retry a failed or cancelled ingest from its kept transfer",
    responses={200: {"model": IngestRead, "description": "The ingest was retried before: that retry"}, **CONFLICT},
    openapi_extra=role_operation(Role.archivist),
)
async def retry_ingest(
    ingest_uuid: UUID, request: Request, response: Response, session: SessionDep, caller: CallerDep
) -> IngestRead:
    """Starts a new ingest (new UUID, `retry_of` this one) of the same transfer, from the transfer folder kept
    for this purpose; it waits in line like any other. Asking again answers the same retry (200). 409 unless
    the ingest is `failed` or `cancelled` and its kept transfer is still there (not cleaned up)."""
    retry, created = await service.retry_ingest(session, request.app.state.settings, ingest_uuid, caller)
    retry_uuid = retry.uuid
    await session.commit()
    request.app.state.notifier.poke()
    request.app.state.admission.remember_trace(retry_uuid)
    await request.app.state.admission.admit()
    session.expire_all()
    if not created:
        response.status_code = status.HTTP_200_OK
    return await service.read_ingest(session, retry_uuid)


@router.post(
    "/{ingest_uuid}/clean-up", response_model=CleanUpRead,
    summary="Remove what a failed, rejected or cancelled ingest left in the processing location",
    responses=CONFLICT, openapi_extra=role_operation(Role.archivist),
)
async def clean_up_ingest(
    ingest_uuid: UUID, request: Request, sessions: SessionsDep, caller: CallerDep,
    transfer: Annotated[bool, Query(
        description="Also remove the transfer folder kept for a retry (never while a retry of it exists); the "
        "ingest can then no longer be retried.")] = False,
) -> CleanUpRead:
    """Removes its SIP folder (with 7-Zip part files) and its quarantine, and answers what was removed with the
    bytes; the transfer folder kept for a retry stays unless `transfer=true`. No preserved package is touched.
    409 while the ingest is queued, running or waiting for a decision, and for a stored or backlogged one (those
    removed their own files). Recorded on the ingest (`cleaned_at`, `cleaned_by`, `cleaned_bytes`)."""
    return await cleanup.clean_up(sessions, request.app.state.settings, ingest_uuid, caller, transfer=transfer)
