"""The transfer service's domain events (`transfer.*.v1`), recorded in its outbox in the transaction that changes
the transfer (`servicekit.outbox`). What happens after the hand-over is the ingest service's to tell."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from clients.transfer.schemas import TransferStatus
from servicekit.outbox import Outbox, outbox_table
from services.transfer.db import metadata
from services.transfer.transfers.models import Transfer

OUTBOX = Outbox(outbox_table(metadata), "transfer")

FINISH_EVENTS: dict[TransferStatus, str] = {
    TransferStatus.awaiting_approval: "transfer.awaiting_approval.v1",
    TransferStatus.ingesting: "transfer.approved.v1",
    TransferStatus.rejected: "transfer.rejected.v1",
    TransferStatus.failed: "transfer.failed.v1",
}


def _base(transfer: Transfer) -> dict[str, Any]:
    return {"transfer_uuid": transfer.uuid, "name": transfer.name, "status": transfer.status}


async def received(session: AsyncSession, transfer: Transfer) -> None:
    await OUTBOX.record(session, "transfer.received.v1", transfer.uuid, {
        **_base(transfer), "source_kind": transfer.source_kind, "created_by": transfer.created_by,
        "processing_config": transfer.processing_config,
    })


async def finished(session: AsyncSession, transfer: Transfer) -> None:
    """The transfer left intake: handed to ingest (`approved`), waiting for approval, rejected or failed."""
    event_type = FINISH_EVENTS.get(transfer.status)
    if event_type is None:
        return
    details: dict[str, Any] = {"file_count": transfer.file_count, "size": transfer.size}
    if transfer.status == TransferStatus.ingesting:
        details["ingest_uuid"] = transfer.ingest_uuid
    if transfer.status in (TransferStatus.rejected, TransferStatus.failed):
        details["reason"] = transfer.error
    await OUTBOX.record(session, event_type, transfer.uuid, {**_base(transfer), **details},
                        related=transfer.ingest_uuid)
