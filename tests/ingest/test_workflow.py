"""The ingest workflow on a real Temporal server with the real ingest, metadata and storage services over HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.ingest import FINAL_STATUSES, DecisionAnswer, IngestClient, IngestCreate, IngestRead, IngestStatus
from clients.metadata import MetadataClient
from clients.transfer import TransferClient
from services.ingest.main import create_app as create_ingest_app
from services.ingest.processing.worker import run_worker
from services.ingest.settings import AipHandover, IngestSettings
from services.metadata.main import create_app as create_metadata_app
from services.metadata.settings import MetadataSettings
from services.storage.main import create_app as create_storage_app
from services.storage.settings import StorageSettings
from services.transfer.main import create_app as create_transfer_app
from services.transfer.settings import TransferSettings
from tests.conftest import bound_socket, serve_http

TOKEN = "workflow-test-token"


@dataclass
class Services:
    data_dir: Path
    ingest: IngestClient
    metadata: MetadataClient
    ingest_settings: IngestSettings
    transfer: TransferClient


@asynccontextmanager
async def running_services(data_dir: Path, temporal: WorkflowEnvironment,
                           handover: AipHandover = AipHandover.auto, *, with_transfer: bool = False,
                           **worker_settings: Any) -> AsyncIterator[Services]:
    """Ingest, metadata and storage over HTTP with a worker; the transfer service too when `with_transfer` (else
    nothing listens at its URL)."""
    sockets = {name: bound_socket() for name in ("ingest", "metadata", "storage", "transfer")}
    urls = {f"{name}_url": f"http://127.0.0.1:{sock.getsockname()[1]}" for name, sock in sockets.items()}
    common: dict[str, Any] = {"data_dir": data_dir, "internal_token": TOKEN, **urls}
    ingest_settings = IngestSettings(
        **common, temporal_address=temporal.client.service_client.config.target_host,
        task_queue=f"workflow-test-{uuid.uuid4().hex[:8]}", aip_handover=handover,
        # The worker's /metrics on any free port: tests running side by side never contend for one.
        **{"batch_size": 2, "heartbeat_timeout_seconds": 5, "worker_metrics_port": 0, **worker_settings},
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serve_http(create_metadata_app(MetadataSettings(**common)),
                                                   sockets["metadata"]))
        await stack.enter_async_context(serve_http(create_storage_app(StorageSettings(**common)), sockets["storage"]))
        await stack.enter_async_context(serve_http(create_ingest_app(ingest_settings), sockets["ingest"]))
        if with_transfer:
            await stack.enter_async_context(serve_http(create_transfer_app(TransferSettings(**common)),
                                                       sockets["transfer"]))
        else:
            sockets["transfer"].close()
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(ingest_settings, stop))
        ingest = IngestClient(urls["ingest_url"], token=TOKEN)
        metadata = MetadataClient(urls["metadata_url"], token=TOKEN)
        transfer = TransferClient(urls["transfer_url"], token=TOKEN, timeout=120)
        try:
            yield Services(data_dir, ingest, metadata, ingest_settings, transfer)
        finally:
            await ingest.aclose()
            await metadata.aclose()
            await transfer.aclose()
            stop.set()
            await worker


async def wait_for(client: IngestClient, ingest_uuid: uuid.UUID, timeout: float = 60) -> IngestRead:
    async with asyncio.timeout(timeout):
        while True:
            ingest = await client.get_ingest(ingest_uuid)
            if ingest.status in FINAL_STATUSES:
                return ingest
            await asyncio.sleep(0.2)


def place_transfer(processing: Path, transfer_uuid: uuid.UUID, journal: list[dict[str, object]]) -> str:
    root = processing / "transfers" / str(transfer_uuid)
    for relative, content in {"objects/a.txt": b"alpha\n", "objects/sub/b.txt": b"beta\n",
                              "objects/sub/c.txt": b"gamma\n", "metadata/metadata.csv": b"filename,dc.title\n"}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "logs").mkdir()
    (root / "objects" / "empty").mkdir()
    (root / "logs" / "amber-transfer.jsonl").write_text("".join(json.dumps(r) + "\n" for r in journal))
    return f"transfers/{transfer_uuid}"


@pytest.mark.parametrize("handover", [AipHandover.auto, AipHandover.upload])
async def test_journal_events_reach_the_record_and_the_aip(
    handover: AipHandover, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    transfer_uuid = uuid.uuid4()
    when = "2026-11-21T10:00:00+00:00"
    journal: list[dict[str, object]] = [
        {"record": "event", "path": "objects/a.txt", "type": "fixity check", "datetime": when,
         "detail": 'program="sha256sum -c --strict"', "outcome": "pass", "outcome_note": ""},
        {"record": "event", "path": "metadata/metadata.csv", "type": "fixity check", "datetime": when,
         "detail": "", "outcome": "pass", "outcome_note": ""},
        {"record": "removed", "path": "objects/Thumbs.db", "reason": "junk"},
        {"record": "event", "path": "objects/Thumbs.db", "type": "file removed", "datetime": when,
         "detail": "", "outcome": "", "outcome_note": "objects/Thumbs.db"},
        {"record": "dublin_core", "path": "objects", "elements": {"dc.title": ["Orchard ledgers"]}},
        {"record": "empty_directory", "path": "objects/empty"},
        {"record": "identifiers", "path": "objects/a.txt", "identifiers": [{"type": "local", "value": "A-1"}]},
    ]
    path = place_transfer(tmp_path / "processing", transfer_uuid, journal)
    async with running_services(tmp_path, temporal_env, handover) as services:
        created = await services.ingest.create_ingest(IngestCreate(transfer_uuid=transfer_uuid, name="Box 7",
                                                                   path=path))
        ingest = await wait_for(services.ingest, created.uuid)
        assert ingest.status == IngestStatus.stored, ingest.error
        assert ingest.file_count == 4 and ingest.files_done == 4
        assert ingest.aip_path and ingest.aip_path.endswith(f"/Box_7-{created.uuid}.7z")

        files = {f.path: f for f in (await services.metadata.list_files(created.uuid, limit=100)).items}
        label = f"Box_7-{transfer_uuid}"
        assert set(files) == {"objects/a.txt", "objects/sub/b.txt", "objects/sub/c.txt",
                              f"objects/metadata/transfers/{label}/metadata.csv"}
        a_events = await services.metadata.list_events(created.uuid, object_uuid=files["objects/a.txt"].uuid)
        assert sorted(e.type for e in a_events.items) == [
            "fixity check", "format identification", "ingestion", "message digest calculation", "virus check",
        ]
        scan = next(e for e in a_events.items if e.type == "virus check")
        assert scan.outcome == "Not scanned" and "no ClamAV signature database" in scan.outcome_note
        # Every file event, the journal's too, is linked to the system, the organization and the user (the worker
        # sends them once per batch, not with each event).
        assert {tuple(sorted(a.identifier_type for a in e.agents)) for e in a_events.items} == {
            ("Amber user", "preservation system", "repository code")}
        csv_events = await services.metadata.list_events(
            created.uuid, object_uuid=files[f"objects/metadata/transfers/{label}/metadata.csv"].uuid
        )
        assert "fixity check" in {e.type for e in csv_events.items}
        assert files[f"objects/metadata/transfers/{label}/metadata.csv"].use == "metadata"
        package_events = await services.metadata.list_events(created.uuid, object_uuid=created.uuid)
        # intake's, and the AIP's compression (issue 10)
        assert [e.type for e in package_events.items] == ["file removed", "compression"]
        assert all(e.agents for e in package_events.items)
        described = await services.metadata.list_descriptive_metadata(created.uuid)
        assert described.total == 1
        directories = await services.metadata.list_directories(created.uuid)
        assert "objects/empty" in {d.path for d in directories.items}
        async with asyncio.timeout(10):  # indexing is asynchronous, and quick
            while not (await services.metadata.search("Orchard")).items:
                await asyncio.sleep(0.1)
        hits = await services.metadata.search("Orchard")
        assert {h.package_uuid for h in hits.items} == {created.uuid}
        pointer = await services.metadata.pointer_file(created.uuid)
        assert ingest.aip_sha256 is not None and ingest.aip_sha256.encode() in pointer

        tasks = await services.ingest.http.get(f"/ingests/{created.uuid}/tasks", params={"limit": 2})
        assert tasks.status_code == 200
        assert tasks.json()["total"] == 4 and len(tasks.json()["items"]) == 2
        assert {t["status"] for t in tasks.json()["items"]} == {"completed"}
        one_job = await services.ingest.http.get(f"/ingests/{created.uuid}/tasks", params={"job": "batch-000000"})
        assert one_job.json()["total"] == 2  # batches of two files in this test

        # Asking again for the same transfer answers the same ingest and makes no second AIP.
        again = await services.ingest.create_ingest(IngestCreate(transfer_uuid=transfer_uuid, name="Box 7",
                                                                 path=path))
        assert again.uuid == created.uuid
        stored = list((tmp_path / "storage").rglob("*.7z"))
        assert len(stored) == 1
        assert not (tmp_path / "processing" / "sips" / str(created.uuid)).exists()


async def test_a_transfer_without_objects_fails_with_the_reason(tmp_path: Path,
                                                                 temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    (tmp_path / "processing" / "transfers" / str(transfer_uuid)).mkdir(parents=True)
    async with running_services(tmp_path, temporal_env) as services:
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="empty", path=f"transfers/{transfer_uuid}"))
        ingest = await wait_for(services.ingest, created.uuid)
        assert ingest.status == IngestStatus.failed
        assert ingest.error is not None and "objects is missing" in ingest.error


async def wait_for_decision(client: IngestClient, ingest_uuid: uuid.UUID, point: str) -> IngestRead:
    async with asyncio.timeout(60):
        while True:
            ingest = await client.get_ingest(ingest_uuid)
            if ingest.status == IngestStatus.awaiting_decision and ingest.decision and ingest.decision.point == point:
                return ingest
            assert ingest.status not in (IngestStatus.stored, IngestStatus.failed), ingest.error
            await asyncio.sleep(0.2)


async def test_the_default_configuration_waits_for_each_decision(tmp_path: Path,
                                                                 temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    path = place_transfer(tmp_path / "processing", transfer_uuid, [])
    async with running_services(tmp_path, temporal_env) as services:
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="decide", path=path, processing_config="default"))
        waiting = await wait_for_decision(services.ingest, created.uuid, "select_format_id_tool_transfer")
        assert waiting.decision is not None and waiting.decision.choices == ["Yes", "No"]
        assert waiting.status == IngestStatus.awaiting_decision
        http = services.ingest.http
        wrong = await http.post(f"/ingests/{created.uuid}/decisions", json={"point": "store_aip", "choice": "Yes"})
        assert wrong.status_code == 409
        invalid = await http.post(f"/ingests/{created.uuid}/decisions",
                                  json={"point": "select_format_id_tool_transfer", "choice": "Maybe"})
        assert invalid.status_code == 422
        answered = await http.post(f"/ingests/{created.uuid}/decisions",
                                   json={"point": "select_format_id_tool_transfer", "choice": "No"})
        assert answered.status_code == 202, answered.text
        again = await http.post(f"/ingests/{created.uuid}/decisions",
                                json={"point": "select_format_id_tool_transfer", "choice": "No"})
        assert again.status_code == 409
        # Every other point `default` leaves open stops the package in turn, in the order the chain meets them.
        for point, choice in [("extract_packages", "Yes"), ("delete_packages", "No"),
                              ("create_sip", "Create single SIP and continue processing"),
                              ("normalize", "Do not normalize"), ("transcribe_file", "No"),
                              ("reminder", "Continue"), ("store_aip", "Store AIP")]:
            await wait_for_decision(services.ingest, created.uuid, point)
            answer = await http.post(f"/ingests/{created.uuid}/decisions", json={"point": point, "choice": choice})
            assert answer.status_code == 202, answer.text
        ingest = await wait_for(services.ingest, created.uuid)
        assert ingest.status == IngestStatus.stored, ingest.error
        files = (await services.metadata.list_files(created.uuid, limit=10)).items
        events = await services.metadata.list_events(created.uuid, object_uuid=files[0].uuid)
        assert "format identification" not in {e.type for e in events.items}  # the archivist said No
        assert {f.format_name for f in files} == {"Unknown"}
        # `default` generates the transfer structure report, kept with the transfer's metadata.
        assert f"objects/metadata/transfers/decide-{transfer_uuid}/directory_tree.txt" in {f.path for f in files}


async def test_an_answer_that_cannot_reach_the_workflow_is_not_recorded(tmp_path: Path,
                                                                       temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    path = place_transfer(tmp_path / "processing", transfer_uuid, [])
    async with running_services(tmp_path, temporal_env) as services:
        http = services.ingest.http
        put = await http.put("/processing-configurations/ask-identify",
                             json={"fields": {"select_format_id_tool_transfer": "ask"}})
        assert put.status_code == 201, put.text
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="cut off", path=path, processing_config="ask-identify"))
        await wait_for_decision(services.ingest, created.uuid, "select_format_id_tool_transfer")
        # A second ingest service on the same database whose Temporal is gone (nothing listens at the address).
        dead = bound_socket()
        dead_address = f"127.0.0.1:{dead.getsockname()[1]}"
        dead.close()
        cut_off = services.ingest_settings.model_copy(update={"temporal_address": dead_address,
                                                              "decision_timeout_seconds": 3})
        answer = {"point": "select_format_id_tool_transfer", "choice": "No"}
        async with serve_http(create_ingest_app(cut_off)) as url, IngestClient(url, token=TOKEN) as cut_off_client:
            refused = await cut_off_client.http.post(f"/ingests/{created.uuid}/decisions", json=answer)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "not recorded" in refused.json()["detail"]
        still = await services.ingest.get_ingest(created.uuid)
        assert still.status == IngestStatus.awaiting_decision
        assert still.decision is not None and still.decision.point == "select_format_id_tool_transfer"

        accepted = await http.post(f"/ingests/{created.uuid}/decisions", json=answer)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["status"] == "processing" and accepted.json()["decision"] is None
        ingest = await wait_for(services.ingest, created.uuid)
        assert ingest.status == IngestStatus.stored, ingest.error
        assert ingest.decision is None


async def test_a_decide_signal_of_an_older_ingest_service_still_counts(tmp_path: Path,
                                                                      temporal_env: WorkflowEnvironment) -> None:
    """Ingest services before the `answer_decision` update signalled `decide`: such a signal still answers, its
    history replays on the current workflow code, and the workflow itself refuses a second answer."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.worker import Replayer

    from services.ingest.processing.workflow import IngestWorkflow

    transfer_uuid = uuid.uuid4()
    path = place_transfer(tmp_path / "processing", transfer_uuid, [])
    async with running_services(tmp_path, temporal_env) as services:
        put = await services.ingest.http.put("/processing-configurations/ask-identify",
                                             json={"fields": {"select_format_id_tool_transfer": "ask"}})
        assert put.status_code == 201, put.text
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="signalled", path=path, processing_config="ask-identify"))
        await wait_for_decision(services.ingest, created.uuid, "select_format_id_tool_transfer")
        handle = temporal_env.client.get_workflow_handle(created.workflow_id)
        await handle.signal("decide", args=["select_format_id_tool_transfer", "No"])
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(IngestWorkflow.answer_decision, args=["select_format_id_tool_transfer", "Yes"])
        assert "is not waiting for 'select_format_id_tool_transfer'" in str(refused.value.cause)
        # Whether or not the workflow has reported moving on yet, the answer it already has is not taken again.
        again = await services.ingest.http.post(f"/ingests/{created.uuid}/decisions",
                                                json={"point": "select_format_id_tool_transfer", "choice": "Yes"})
        assert again.status_code == 409, again.text
        ingest = await wait_for(services.ingest, created.uuid)
        assert ingest.status == IngestStatus.stored, ingest.error
        events = (await services.metadata.list_files(created.uuid, limit=10)).items
        assert {f.format_name for f in events} == {"Unknown"}  # the signalled "No": no identification
        history = await handle.fetch_history()
        await Replayer(workflows=[IngestWorkflow]).replay_workflow(history)


async def test_rejecting_the_aip_stores_nothing_and_keeps_the_sip(tmp_path: Path,
                                                                 temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    path = place_transfer(tmp_path / "processing", transfer_uuid, [])
    async with running_services(tmp_path, temporal_env) as services:
        http = services.ingest.http
        put = await http.put("/processing-configurations/ask-store", json={"fields": {"store_aip": "ask"}})
        assert put.status_code == 201, put.text
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="reject me", path=path, processing_config="ask-store"))
        await wait_for_decision(services.ingest, created.uuid, "store_aip")
        await services.ingest.answer_decision(created.uuid, DecisionAnswer(point="store_aip", choice="Reject AIP"))
        assert (await wait_for(services.ingest, created.uuid)).status == IngestStatus.rejected
        assert not list((tmp_path / "storage").rglob("*.7z"))
        assert (tmp_path / "processing" / "sips" / str(created.uuid)).exists()


def png(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x10\x80\x30" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


async def test_files_with_a_validator_get_a_validation_event(tmp_path: Path,
                                                              temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    root = tmp_path / "processing" / "transfers" / str(transfer_uuid) / "objects"
    root.mkdir(parents=True)
    good = png(8, 8)
    (root / "good.png").write_bytes(good)
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF  # inside the image data: still a PNG to Siegfried, but its CRC no longer holds
    (root / "broken.png").write_bytes(bytes(damaged))
    (root / "notes.txt").write_text("no validator for plain text\n")
    async with running_services(tmp_path, temporal_env) as services:
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="images", path=f"transfers/{transfer_uuid}"))
        ingest = await wait_for(services.ingest, created.uuid)
        assert ingest.status == IngestStatus.stored, ingest.error
        files = {f.path: f for f in (await services.metadata.list_files(created.uuid, limit=10)).items}
        outcomes = {}
        for path, record in files.items():
            events = (await services.metadata.list_events(created.uuid, object_uuid=record.uuid)).items
            outcomes[path] = [(e.outcome, e.detail.split(";")[0]) for e in events if e.type == "validation"]
        assert outcomes["objects/good.png"] == [("pass", 'program="pngcheck"')]
        assert outcomes["objects/broken.png"] == [("fail", 'program="pngcheck"')]
        assert outcomes["objects/notes.txt"] == []


async def test_a_validation_rule_made_through_the_api_holds_for_the_next_ingest(
    tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    from clients.ingest.fpr import PolicyCommand, PolicyTool, RuleUpdate, RuleWrite, VerdictRule, VerdictSpec

    async def ingest_text(services: Services, text: bytes) -> list[tuple[str, str, str]]:
        transfer_uuid = uuid.uuid4()
        root = tmp_path / "processing" / "transfers" / str(transfer_uuid) / "objects"
        root.mkdir(parents=True)
        (root / "notes.txt").write_bytes(text)
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="notes", path=f"transfers/{transfer_uuid}"))
        ingest = await wait_for(services.ingest, created.uuid)
        assert ingest.status == IngestStatus.stored, ingest.error
        [record] = (await services.metadata.list_files(created.uuid, limit=10)).items
        events = (await services.metadata.list_events(created.uuid, object_uuid=record.uuid)).items
        return [(e.outcome, e.detail.split(";")[0], e.outcome_note) for e in events if e.type == "validation"]

    async with running_services(tmp_path, temporal_env) as services:
        assert await ingest_text(services, b"plain words\n") == []  # no shipped validator for plain text
        # A new validator is data: a tool, a command with its verdict, a rule.
        await services.ingest.create_format_tool(PolicyTool(name="grep", version_argv=["grep", "--version"],
                                                            version_pattern=r"grep \(GNU grep\) (\S+)"))
        await services.ingest.create_format_command(PolicyCommand(
            name="text-without-marker", tool="grep", argv=["grep", "-c", "DAMAGED", "{input}"],
            verdict=VerdictSpec(pass_exit_codes=[1], rules=[
                VerdictRule(pattern=r"^[1-9]", stream="stdout", verdict="fail",
                            reason="a damage marker in the text"),
            ])))
        rule = await services.ingest.create_format_rule(RuleWrite(purpose="validation", puid="x-fmt/111",
                                                                  command="text-without-marker"))
        assert await ingest_text(services, b"plain words\n") == [
            ("pass", 'program="grep"', 'format="Plain Text File"; result="valid"')]
        assert await ingest_text(services, b"plain DAMAGED words\n") == [
            ("fail", 'program="grep"', 'format="Plain Text File"; result="exit code 0; a damage marker in the text"')]
        counted = await services.ingest.get_format_rule(rule.uuid)
        assert (counted.successes, counted.failures) == (1, 1)
        await services.ingest.update_format_rule(rule.uuid, RuleUpdate(enabled=False))
        assert await ingest_text(services, b"plain words\n") == []
        assert (await services.ingest.get_format_rule(rule.uuid)).successes == 1
