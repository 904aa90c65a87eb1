"""Ingests: creation (one per transfer), reading, and the updates workers report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from clients.ingest.processing import DecisionAnswer
from clients.ingest.schemas import (
    FINAL_STATUSES,
    RETRYABLE_STATUSES,
    IngestCreate,
    IngestRead,
    IngestStatus,
    IngestUpdate,
)
from servicekit.ids import new_id
from servicekit.pagination import Page, PageParams
from servicekit.problems import Conflict, NotFound, Problem
from services.ingest.ingests.models import Ingest
from services.ingest.ingests.repository import IngestRepository
from services.ingest.notifications import events
from services.ingest.processing.params import IngestParams
from services.ingest.processing.temporal import AnswerRefused, ProcessingUnreachable, deliver_answer, workflow_id
from services.ingest.processing_configs import service as processing_configs
from services.ingest.settings import IngestSettings

TERMINAL = FINAL_STATUSES


def ingest_read(ingest: Ingest, files_done: int, queue_position: int | None = None) -> IngestRead:
    return IngestRead.model_validate(
        {**ingest.model_dump(), "files_done": files_done, "queue_position": queue_position,
         "warnings": ingest.warnings or []}
    )


def workflow_params(ingest: Ingest, settings: IngestSettings) -> IngestParams:
    return IngestParams(
        ingest_uuid=str(ingest.uuid),
        transfer_uuid=str(ingest.transfer_uuid),
        name=ingest.name,
        transfer_path=ingest.path,
        created_by=ingest.created_by,
        batch_size=settings.batch_size,
        max_concurrent_batches=settings.max_concurrent_batches,
        heartbeat_timeout_seconds=settings.heartbeat_timeout_seconds,
        decisions={point: str(value) for point, value in ingest.config_fields.items()},
    )


async def create_ingest(session: AsyncSession, body: IngestCreate) -> tuple[Ingest, bool]:
    """The ingest of a transfer, created on first request; returns (ingest, created)."""
    repo = IngestRepository(session)
    existing = await repo.get_by_transfer(body.transfer_uuid)
    if existing is not None:
        return existing, False
    fields = await processing_configs.get_fields(session, body.processing_config)
    now = datetime.now(UTC)
    ingest_uuid = new_id()
    ingest = Ingest(
        uuid=ingest_uuid,
        transfer_uuid=body.transfer_uuid,
        name=body.name,
        path=body.path,
        created_by=body.created_by,
        workflow_id=workflow_id(str(ingest_uuid)),
        processing_config=body.processing_config,
        config_fields=fields.model_dump(),
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            repo.add(ingest)
    except IntegrityError:
        # A concurrent request for the same transfer won the race.
        existing = await repo.get_by_transfer(body.transfer_uuid)
        assert existing is not None
        return existing, False
    await events.ingest_created(session, ingest)
    return ingest, True


async def read_ingest(session: AsyncSession, ingest_uuid: UUID) -> IngestRead:
    repo = IngestRepository(session)
    ingest = await repo.get(ingest_uuid)
    if ingest is None:
        raise NotFound("Ingest", ingest_uuid)
    done = await repo.files_done([ingest.uuid])
    positions = await repo.queue_positions([ingest])
    return ingest_read(ingest, done.get(ingest.uuid, 0), positions.get(ingest.uuid))


async def list_ingests(session: AsyncSession, status: IngestStatus | None, page: PageParams) -> Page[IngestRead]:
    repo = IngestRepository(session)
    items, total = await repo.page(status=status, limit=page.limit, offset=page.offset)
    done = await repo.files_done([i.uuid for i in items])
    positions = await repo.queue_positions(items)
    return Page[IngestRead].of([ingest_read(i, done.get(i.uuid, 0), positions.get(i.uuid)) for i in items], total,
                               page)


async def update_ingest(session: AsyncSession, ingest_uuid: UUID, body: IngestUpdate) -> IngestRead:
    repo = IngestRepository(session)
    ingest = await repo.get_for_update(ingest_uuid)
    if ingest is None:
        raise NotFound("Ingest", ingest_uuid)
    changes = body.model_dump(exclude_unset=True)
    if "decision" in changes:
        changes["decision"] = body.decision.model_dump() if body.decision else None
    if "warnings" in changes:
        changes["warnings"] = [warning.model_dump() for warning in body.warnings] if body.warnings else None
    changes.pop("files_done", None)  # derived from the batch jobs, never stored
    new_status = changes.get("status")
    before = ingest.status
    if ingest.status in TERMINAL and new_status is not None and new_status != ingest.status:
        raise Conflict(f"Ingest {ingest_uuid} is already {ingest.status.value}")
    if new_status not in (None, IngestStatus.awaiting_decision) and "decision" not in changes:
        # The workflow moved on: whatever it waited for was answered (possibly by an answer whose recording failed).
        changes["decision"] = None
    for field, value in changes.items():
        setattr(ingest, field, value)
    ingest.updated_at = datetime.now(UTC)
    written = [*changes, "updated_at"]
    if new_status in TERMINAL and ingest.finished_at is None:
        ingest.finished_at = ingest.updated_at
        written.append("finished_at")
    # Every reported field is written, even one equal to what was read: on SQLite the row is not locked, and
    # an answer recorded in between (status back to processing) must not survive the worker's newer report.
    await repo.write(ingest, written)
    await events.status_changed(session, ingest, before)
    done = await repo.files_done([ingest.uuid])
    return ingest_read(ingest, done.get(ingest.uuid, 0))


async def request_cancel(session: AsyncSession, ingest_uuid: UUID, caller: str) -> tuple[Ingest, bool]:
    """Cancel an ingest that has not started (at once), or record who asks to cancel a started one; returns
    (ingest, whether its workflow must be cancelled). The caller holds the admission lock, so no workflow starts
    for this ingest meanwhile."""
    repo = IngestRepository(session)
    ingest = await repo.get_for_update(ingest_uuid)
    if ingest is None:
        raise NotFound("Ingest", ingest_uuid)
    if ingest.status == IngestStatus.cancelled:
        return ingest, False  # asked again (a lost answer): the same answer
    if ingest.status in TERMINAL:
        raise Conflict(f"Ingest {ingest_uuid} is already {ingest.status.value}; only an unfinished one can be "
                       "cancelled")
    now = datetime.now(UTC)
    ingest.cancelled_by = ingest.cancelled_by or caller
    ingest.updated_at = now
    started = ingest.admitted_at is not None
    if not started:
        before = ingest.status
        mark_cancelled(ingest, now)
        await events.status_changed(session, ingest, before)
    await repo.flush()
    return ingest, started


def mark_cancelled(ingest: Ingest, at: datetime) -> None:
    ingest.status = IngestStatus.cancelled
    ingest.cancelled_at = ingest.finished_at = ingest.updated_at = at
    ingest.current_job = None
    ingest.decision = None


async def cancel_without_workflow(session: AsyncSession, ingest_uuid: UUID) -> None:
    """An admitted ingest whose workflow is not running (its start was lost): nothing to stop, so cancelled now."""
    ingest = await IngestRepository(session).get_for_update(ingest_uuid)
    if ingest is not None and ingest.status not in TERMINAL:
        before = ingest.status
        mark_cancelled(ingest, datetime.now(UTC))
        await events.status_changed(session, ingest, before)


async def retry_ingest(session: AsyncSession, settings: IngestSettings, ingest_uuid: UUID,
                       caller: str) -> tuple[Ingest, bool]:
    """A new ingest (new UUID, `retry_of` the old one) of the failed or cancelled ingest's kept transfer;
    returns (ingest, created). Asking again answers the same retry.

    A new UUID, because event and file UUIDs derive from the ingest's: the retry's records cannot collide with
    the half-written ones of the attempt before it, and its SIP folder is its own."""
    repo = IngestRepository(session)
    old = await repo.get_for_update(ingest_uuid)
    if old is None:
        raise NotFound("Ingest", ingest_uuid)
    existing = await repo.get_retry(old.uuid)
    if existing is not None:
        return existing, False
    if old.status not in RETRYABLE_STATUSES:
        raise Conflict(f"Ingest {ingest_uuid} is {old.status.value}; only a failed or cancelled ingest is retried")
    if old.transfer_removed:
        raise Conflict(f"Ingest {ingest_uuid} was cleaned up with its kept transfer: nothing to retry from")
    latest = await repo.get_by_transfer(old.transfer_uuid)
    if latest is not None and latest.uuid != old.uuid:
        raise Conflict(f"Transfer {old.transfer_uuid} has a newer ingest, {latest.uuid}")
    if not await asyncio.to_thread((settings.processing_dir / old.path / "objects").is_dir):
        raise Conflict(f"The kept transfer of ingest {ingest_uuid} ({old.path}) is missing")
    now = datetime.now(UTC)
    retry_uuid = new_id()
    retry = Ingest(
        uuid=retry_uuid, transfer_uuid=old.transfer_uuid, name=old.name, path=old.path, created_by=caller,
        workflow_id=workflow_id(str(retry_uuid)), processing_config=old.processing_config,
        config_fields=dict(old.config_fields), retry_of=old.uuid, created_at=now, updated_at=now,
    )
    try:
        async with session.begin_nested():
            repo.add(retry)
    except IntegrityError:
        existing = await repo.get_retry(old.uuid)  # a concurrent retry won
        assert existing is not None
        return existing, False
    await events.ingest_created(session, retry)
    return retry, True


async def answer_decision(session: AsyncSession, temporal: Callable[[], Awaitable[Client]], ingest_uuid: UUID,
                          answer: DecisionAnswer, timeout: float) -> None:
    """Check an answer against the decision awaited, hand it to the workflow, and take the decision off the
    record only once the workflow has accepted it: an answer that did not reach the workflow is not recorded,
    so it can be given again. A second answer to the same question is refused."""
    repo = IngestRepository(session)
    # Not locked: the workflow reports its next steps while the answer is delivered (mark_answered checks).
    ingest = await repo.get(ingest_uuid)
    if ingest is None:
        raise NotFound("Ingest", ingest_uuid)
    pending = ingest.decision
    if ingest.status != IngestStatus.awaiting_decision or not pending:
        raise Conflict(f"Ingest {ingest_uuid} is not waiting for a decision (it is {ingest.status.value})")
    if answer.point != pending["point"]:
        raise Conflict(f"Ingest {ingest_uuid} is waiting for {pending['point']!r}, not {answer.point!r}")
    if answer.choice not in pending["choices"]:
        raise Problem(422, "Invalid choice", f"{answer.choice!r} is not one of {pending['choices']}")
    try:
        await deliver_answer(temporal, ingest.workflow_id, answer.point, answer.choice, timeout)
    except AnswerRefused as exc:
        raise Conflict(f"Ingest {ingest_uuid}'s processing refused the answer: {exc}") from exc
    except ProcessingUnreachable as exc:
        raise Problem(503, "Processing unavailable", f"The answer was not recorded; give it again later ({exc})",
                      headers={"Retry-After": "5"}) from exc
    # Recorded first: taking the decision off the record expires the row.
    await events.decision_answered(session, ingest, answer.point, answer.choice)
    await repo.mark_answered(ingest, datetime.now(UTC))
