"""The ingest service's domain events (`ingest.*.v1`), recorded in its outbox in the transaction that changes the
ingest, so an event exists exactly when the change does (`servicekit.outbox`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from clients.ingest.schemas import IngestStatus, JobRead
from servicekit.outbox import Outbox, outbox_table
from services.ingest.ingests.models import Ingest, metadata

OUTBOX = Outbox(outbox_table(metadata), "ingest")

# The event a move into each status is; `processing` is one only when it starts the ingest (not a resumption).
STATUS_EVENTS: dict[IngestStatus, str] = {
    IngestStatus.awaiting_decision: "ingest.awaiting_decision.v1",
    IngestStatus.stored: "ingest.stored.v1",
    IngestStatus.failed: "ingest.failed.v1",
    IngestStatus.rejected: "ingest.rejected.v1",
    IngestStatus.backlogged: "ingest.backlogged.v1",
    IngestStatus.cancelled: "ingest.cancelled.v1",
}


def _base(ingest: Ingest) -> dict[str, Any]:
    return {"ingest_uuid": ingest.uuid, "transfer_uuid": ingest.transfer_uuid, "name": ingest.name,
            "status": ingest.status}


def _details(ingest: Ingest) -> dict[str, Any]:
    if ingest.status == IngestStatus.stored:
        return {"aip_uuid": ingest.uuid, "aip_path": ingest.aip_path, "aip_location_uuid": ingest.aip_location_uuid,
                "aip_size": ingest.aip_size, "aip_sha256": ingest.aip_sha256, "file_count": ingest.file_count,
                "warnings": [w.get("message") for w in ingest.warnings or []]}
    if ingest.status == IngestStatus.awaiting_decision:
        decision = ingest.decision or {}
        return {"point": decision.get("point"), "question": decision.get("question"),
                "choices": decision.get("choices", [])}
    if ingest.status in (IngestStatus.failed, IngestStatus.rejected):
        return {"reason": ingest.error}
    if ingest.status == IngestStatus.cancelled:
        return {"cancelled_by": ingest.cancelled_by}
    return {}


async def ingest_created(session: AsyncSession, ingest: Ingest) -> None:
    await OUTBOX.record(session, "ingest.queued.v1", ingest.uuid,
                        {**_base(ingest), "retry_of": ingest.retry_of, "created_by": ingest.created_by},
                        related=ingest.transfer_uuid)


async def status_changed(session: AsyncSession, ingest: Ingest, before: IngestStatus) -> None:
    """Record the event of the move from `before` to the ingest's status, if that move is one."""
    if ingest.status == before:
        return
    if ingest.status == IngestStatus.processing:
        if before != IngestStatus.queued:
            return  # resumed after a decision: the answer was the news
        event_type = "ingest.started.v1"
    else:
        found = STATUS_EVENTS.get(ingest.status)
        if found is None:
            return
        event_type = found
    await OUTBOX.record(session, event_type, ingest.uuid, {**_base(ingest), **_details(ingest)},
                        related=ingest.transfer_uuid)


async def decision_answered(session: AsyncSession, ingest: Ingest, point: str, choice: str) -> None:
    await OUTBOX.record(session, "ingest.decision_answered.v1", ingest.uuid,
                        {**_base(ingest), "point": point, "choice": choice}, related=ingest.transfer_uuid)


async def job_progressed(session: AsyncSession, ingest: Ingest, job: JobRead, files_done: int) -> None:
    """A micro-service job started, moved on or ended: what a person following the ingest sees."""
    await OUTBOX.record(session, "ingest.progress.v1", ingest.uuid, {
        **_base(ingest), "job": job.key, "job_name": job.name, "microservice": job.microservice,
        "job_status": job.status, "job_files_done": job.files_done, "job_files_total": job.files_total,
        "files_done": files_done, "file_count": ingest.file_count,
    }, related=ingest.transfer_uuid)
