"""The adapter's pure translations: status derivation, lenient base64, tastypie paging and filters."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from clients.ingest import IngestRead, IngestStatus
from clients.ingest.processing import DecisionRead
from clients.transfer.schemas import TransferRead, TransferSourceKind, TransferStatus
from gateway.archivematica.ids import b64decode_lenient, split_location_path, uuid_at_end
from gateway.archivematica.shapes import matches, page_of
from gateway.archivematica.status import ingest_status, transfer_status

NOW = datetime(2026, 12, 4, tzinfo=UTC)
CREATE_SIP = DecisionRead(point="create_sip", question="Create SIP(s)?", choices=["Send to backlog"])
STORE = DecisionRead(point="store_aip", question="Store AIP?", choices=["Store AIP"])


def transfer(status: str, ingest_uuid: uuid.UUID | None = None) -> TransferRead:
    # model_construct: the status may be one the enum does not have yet (the coming `cancelled`).
    fields: dict[str, Any] = {"status": status}
    return TransferRead.model_construct(
        uuid=uuid.uuid4(), name="t", source_kind=TransferSourceKind.location, source="x:y", **fields,
        transfer_type=None, step=None, error=None, hidden=False, path="p", ingest_uuid=ingest_uuid, file_count=1,
        size=1, processing_config="automated", created_by="u", created_at=NOW, updated_at=NOW,
    )


def ingest(status: str, decision: DecisionRead | None = None, current_job: str | None = None) -> IngestRead:
    fields: dict[str, Any] = {"status": status}
    return IngestRead.model_construct(
        uuid=uuid.uuid4(), transfer_uuid=uuid.uuid4(), name="t", path="p", current_job=current_job, **fields,
        error=None, file_count=1, files_done=0, aip_path=None, aip_location_uuid=None, aip_size=None,
        aip_sha256=None, workflow_id="w", processing_config="automated", decision=decision, warnings=[],
        queue_position=None, created_by="u", created_at=NOW, updated_at=NOW,
    )


def test_transfer_status_follows_archivematicas_semantics() -> None:
    assert transfer_status(transfer(TransferStatus.received), None).status == "PROCESSING"
    waiting = transfer_status(transfer(TransferStatus.awaiting_approval), None)
    assert (waiting.status, waiting.microservice) == ("USER_INPUT", "Approve standard transfer")
    assert transfer_status(transfer(TransferStatus.rejected), None).status == "REJECTED"
    assert transfer_status(transfer(TransferStatus.failed), None).status == "FAILED"
    handed = ingest(IngestStatus.processing, current_job="Process files")
    complete = transfer_status(transfer(TransferStatus.ingesting, handed.uuid), handed)
    assert (complete.status, complete.sip_uuid) == ("COMPLETE", str(handed.uuid))
    moving = ingest(IngestStatus.processing, current_job="Send to backlog")
    on_the_way = transfer_status(transfer(TransferStatus.ingesting, moving.uuid), moving)
    assert (on_the_way.status, on_the_way.microservice, on_the_way.sip_uuid) == ("PROCESSING", "Move to backlog", None)
    backlog = ingest(IngestStatus.backlogged)
    assert transfer_status(transfer(TransferStatus.ingesting, backlog.uuid), backlog).sip_uuid == "BACKLOG"
    asking = ingest(IngestStatus.awaiting_decision, CREATE_SIP)
    at_create_sip = transfer_status(transfer(TransferStatus.ingesting, asking.uuid), asking)
    assert (at_create_sip.status, at_create_sip.microservice, at_create_sip.sip_uuid) == \
        ("USER_INPUT", "Create SIP(s)?", None)


def test_ingest_status_and_statuses_amber_adds_later() -> None:
    assert ingest_status(ingest(IngestStatus.queued)).status == "PROCESSING"
    running = ingest_status(ingest(IngestStatus.processing, current_job="Compress AIP"))
    assert (running.status, running.microservice) == ("PROCESSING", "Compress AIP")
    asking = ingest_status(ingest(IngestStatus.awaiting_decision, STORE))
    assert (asking.status, asking.microservice) == ("USER_INPUT", "Store AIP?")
    assert ingest_status(ingest(IngestStatus.stored)).status == "COMPLETE"
    assert ingest_status(ingest(IngestStatus.rejected)).status == "REJECTED"
    assert ingest_status(ingest(IngestStatus.failed)).status == "FAILED"
    # Amber's `cancelled`: Archivematica has no such status; a stopped unit is FAILED.
    assert ingest_status(ingest("cancelled")).status == "FAILED"
    assert transfer_status(transfer("cancelled"), None).status == "FAILED"


def test_base64_paths_decode_leniently() -> None:
    location = uuid.uuid4()
    text = f"{location}:some folder/with a rather long name that wraps"
    ruby = base64.encodebytes(text.encode()).decode()  # a newline every 76 characters, as Ruby's encode64
    assert "\n" in ruby.rstrip("\n")
    assert b64decode_lenient(ruby) == text
    assert b64decode_lenient(base64.b64encode(b"abcd").decode().rstrip("=") + "\n") == "abcd"
    assert b64decode_lenient("%%%") is None
    assert split_location_path(text) == (location, "some folder/with a rather long name that wraps")
    assert split_location_path("/abs/path") == (None, "/abs/path")
    assert uuid_at_end(f"name-{location}/") == location
    assert uuid_at_end("name") is None


def test_tastypie_pages_repeat_the_query_and_filters_match_like_djangos() -> None:
    objects: list[dict[str, Any]] = [{"uuid": str(i), "status": "UPLOADED" if i % 2 else "DEL_REQ",
                                      "current_location": "/api/v2/location/abc/"} for i in range(45)]
    query = [("username", "u"), ("api_key", "k"), ("package_type", "AIP")]
    first = page_of(objects, "/api/v2/file/", query)
    assert first["meta"] == {"limit": 20, "offset": 0, "total_count": 45, "previous": None,
                             "next": "/api/v2/file/?username=u&api_key=k&package_type=AIP&limit=20&offset=20"}
    last = page_of(objects, "/api/v2/file/", [*query, ("offset", "40")])
    assert len(last["objects"]) == 5 and last["meta"]["next"] is None
    assert page_of(objects, "/api/v2/file/", [("limit", "0")])["meta"]["limit"] == 1000
    assert matches(objects[1], {"status__in": "UPLOADED,VERIFIED"})
    assert not matches(objects[0], {"status": "UPLOADED"})
    assert matches(objects[0], {"current_location__uuid": "abc", "unknown": "ignored"})
    assert matches({"default": True}, {"default": "true"}) and not matches({"default": False}, {"default": "1"})
