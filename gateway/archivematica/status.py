"""Archivematica's unit status, derived from Amber's transfer and ingest records.

Archivematica reads the newest job of a unit; Amber keeps the state on the record itself, so the mapping is
direct. Transfer COMPLETE means "handed to ingest" (with the SIP UUID, or `BACKLOG`), as Archivematica's clients
require before they poll the SIP. Any status this module does not know (the ingest service's coming `cancelled`)
shows as FAILED: the unit stopped and will not finish, which is what FAILED tells a client.
"""

from __future__ import annotations

from dataclasses import dataclass

from clients.ingest import IngestRead, IngestStatus
from clients.transfer.schemas import FINISHED_STATUSES, TransferRead, TransferStatus, TransferType

PROCESSING = "PROCESSING"
COMPLETE = "COMPLETE"
FAILED = "FAILED"
REJECTED = "REJECTED"
USER_INPUT = "USER_INPUT"
BACKLOG = "BACKLOG"
BACKLOG_JOB = "Send to backlog"  # the ingest's job while it moves the transfer to the backlog

# A transfer in these has (or had) an ingest, i.e. a SIP in Archivematica's words.
HANDED_TO_INGEST = frozenset({TransferStatus.ingesting, TransferStatus.stored, TransferStatus.backlogged,
                              TransferStatus.cancelled})
# The decision point that belongs to the transfer in Archivematica (it decides whether a SIP is made at all).
TRANSFER_DECISION_POINTS = frozenset({"create_sip"})
# The job Archivematica ends an ingest with; its COMPLETE means the AIP is stored.
LAST_INGEST_JOB = "Remove the processing directory"

# Archivematica's transfer type names, the approval job of each, and the watched folder of each.
AM_TYPES: dict[TransferType | None, str] = {
    None: "standard",
    TransferType.standard: "standard",
    TransferType.zipped_directory: "zipfile",
    TransferType.unzipped_bag: "unzipped bag",
    TransferType.zipped_bag: "zipped bag",
}
APPROVAL_JOBS: dict[str, str] = {
    "standard": "Approve standard transfer",
    "zipfile": "Approve zipped transfer",
    "unzipped bag": "Approve bagit transfer",
    "zipped bag": "Approve zipped bagit transfer",
}
TYPE_FOLDERS: dict[str, str] = {
    "standard": "standardTransfer",
    "zipfile": "zippedDirectory",
    "unzipped bag": "baggitDirectory",
    "zipped bag": "baggitZippedDirectory",
}
# Archivematica's names for the types it has and Amber does not: refused with that said.
UNSUPPORTED_TYPES = frozenset({"dspace", "maildir", "TRIM", "dataverse"})
FROM_AM_TYPE: dict[str, TransferType | None] = {
    "standard": None,  # Amber detects a bag or an archive itself
    "disk image": None,
    "zipfile": TransferType.zipped_directory,
    "unzipped bag": TransferType.unzipped_bag,
    "zipped bag": TransferType.zipped_bag,
}


@dataclass(frozen=True)
class UnitStatus:
    status: str
    microservice: str
    sip_uuid: str | None = None


def am_type(transfer: TransferRead) -> str:
    return AM_TYPES.get(transfer.transfer_type, "standard")


def transfer_status(transfer: TransferRead, ingest: IngestRead | None) -> UnitStatus:
    step = transfer.step or "Move to processing directory"
    if transfer.status == TransferStatus.received:
        return UnitStatus(PROCESSING, step)
    if transfer.status == TransferStatus.awaiting_approval:
        return UnitStatus(USER_INPUT, APPROVAL_JOBS[am_type(transfer)])
    handed_over = transfer.status in HANDED_TO_INGEST or ingest is not None
    if transfer.status == TransferStatus.rejected and not handed_over:
        return UnitStatus(REJECTED, step)
    if not handed_over:
        return UnitStatus(FAILED, step)  # intake failed it, and any status added later
    # Once a SIP exists the transfer is COMPLETE, as in Archivematica, whatever the SIP's own fate: the transfer's
    # status follows its ingest to the end in Amber (stored, failed, cancelled…), the SIP's status tells that here.
    if ingest is None:
        # The ingest record could not be read: the transfer's own status, which follows it, says as much.
        if transfer.status == TransferStatus.backlogged:
            return UnitStatus(COMPLETE, "Move to backlog", BACKLOG)
        if transfer.status == TransferStatus.stored and transfer.ingest_uuid is not None:
            return UnitStatus(COMPLETE, "Create SIP from transfer", str(transfer.ingest_uuid))
        if transfer.status == TransferStatus.ingesting:
            return UnitStatus(PROCESSING, "Create SIP from transfer")
        return UnitStatus(FAILED, step)
    if ingest.status == IngestStatus.backlogged:
        return UnitStatus(COMPLETE, "Move to backlog", BACKLOG)
    if ingest.status in (IngestStatus.queued, IngestStatus.processing) and ingest.current_job == BACKLOG_JOB:
        # On its way to the backlog: no SIP will be made, so none is named (a client would follow it).
        return UnitStatus(PROCESSING, "Move to backlog")
    if ingest.status == IngestStatus.awaiting_decision and ingest.decision is not None \
            and ingest.decision.point in TRANSFER_DECISION_POINTS:
        return UnitStatus(USER_INPUT, ingest.decision.question)
    return UnitStatus(COMPLETE, "Create SIP from transfer", str(ingest.uuid))


def ingest_status(ingest: IngestRead) -> UnitStatus:
    job = ingest.current_job or "Create SIP from transfer"
    match ingest.status:
        case IngestStatus.queued:
            return UnitStatus(PROCESSING, "Waiting for a processing slot")
        case IngestStatus.processing:
            return UnitStatus(PROCESSING, job)
        case IngestStatus.awaiting_decision:
            question = ingest.decision.question if ingest.decision is not None else job
            return UnitStatus(USER_INPUT, question)
        case IngestStatus.stored:
            return UnitStatus(COMPLETE, LAST_INGEST_JOB)
        case IngestStatus.backlogged:
            return UnitStatus(COMPLETE, "Move to backlog")
        case IngestStatus.rejected:
            return UnitStatus(REJECTED, "Reject AIP")
        case _:
            return UnitStatus(FAILED, "Failed SIP")


def ingest_finished(ingest: IngestRead) -> bool:
    return ingest_status(ingest).status in (COMPLETE, FAILED, REJECTED)


def transfer_finished(transfer: TransferRead) -> bool:
    return transfer.status in FINISHED_STATUSES
