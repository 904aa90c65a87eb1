"""The ingest lifecycle over the real services, worker and Temporal: cancel, clean up, retry, and the transfer's
status following its ingest to the end."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from clients.ingest import IngestCreate, IngestRead, IngestStatus
from clients.transfer import TransferStatus
from services.ingest.main import create_app
from tests.conftest import asgi_client
from tests.ingest.test_ingests_api import settings_for
from tests.ingest.test_processing_chain import configure, place
from tests.ingest.test_workflow import TOKEN, Services, running_services, wait_for

AS_ALICE = {"Authorization": f"Bearer {TOKEN}", "X-Amber-User": "alice"}


def listing(root: Path) -> list[tuple[str, int, int]]:
    """Every file under `root` with its size and modification time, to see whether anything still writes."""
    if not root.exists():
        return []
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in root.rglob("*") if p.is_file())


async def post(services: Services, path: str, **params: str) -> httpx.Response:
    return await services.ingest.http.post(path, headers=AS_ALICE, params=params)


async def wait_until(services: Services, ingest_uuid: uuid.UUID, ready: object, timeout: float = 120) -> IngestRead:
    assert callable(ready)
    async with asyncio.timeout(timeout):
        while True:
            ingest = await services.ingest.get_ingest(ingest_uuid)
            if ready(ingest):
                return ingest
            await asyncio.sleep(0.05)


async def test_a_queued_ingest_is_cancelled_at_once_and_a_finished_one_cannot_be(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    settings = settings_for(tmp_path, temporal_env).model_copy(
        update={"max_active_ingests": 1, "admission_interval_seconds": 3600, "transfer_url": "http://127.0.0.1:9"}
    )
    headers = {"Authorization": "Bearer secret", "X-Amber-User": "alice"}
    async with asgi_client(create_app(settings, engine=db_engine)) as client:
        created = []
        for index in range(2):
            body = {"transfer_uuid": str(uuid.uuid4()), "name": f"box {index}", "path": f"transfers/{index}"}
            created.append((await client.post("/ingests", json=body, headers=headers)).json())
        assert created[1]["queue_position"] == 1

        cancelled = await client.post(f"/ingests/{created[1]['uuid']}/cancel", headers=headers)
        assert cancelled.status_code == 202, cancelled.text
        body = cancelled.json()
        assert (body["status"], body["cancelled_by"]) == ("cancelled", "alice")
        assert body["cancelled_at"] is not None and body["finished_at"] is not None
        # Never started, never will be.
        handle = temporal_env.client.get_workflow_handle(created[1]["workflow_id"])
        try:
            await handle.describe()
            started = True
        except Exception:
            started = False
        assert not started
        again = await client.post(f"/ingests/{created[1]['uuid']}/cancel", headers=headers)
        assert again.status_code == 202 and again.json()["status"] == "cancelled"

        # A finished ingest cannot be cancelled: 409, a problem document.
        await client.patch(f"/ingests/{created[0]['uuid']}", json={"status": "failed", "error": "x"}, headers=headers)
        refused = await client.post(f"/ingests/{created[0]['uuid']}/cancel", headers=headers)
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("application/problem+json")
        # Nor cleaned up while queued, nor retried while not failed or cancelled.
        await temporal_env.client.get_workflow_handle(created[0]["workflow_id"]).terminate("test done")


async def test_cancel_during_the_batches_of_2000_files_then_clean_up_then_retry_stores_one_aip(
    tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    """The acceptance of issue 10: cancelled within seconds of the next heartbeat, no AIP, nothing of the ingest
    left after the clean-up, and the retry (from the kept transfer) stores exactly one AIP."""
    transfer_uuid = uuid.uuid4()
    processing = tmp_path / "processing"
    objects = place(processing, transfer_uuid)
    for number in range(2000):
        path = objects / f"series-{number % 10}" / f"item-{number:05d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"item {number}\n" * (1 + number % 7))
    heartbeat = 5
    async with running_services(tmp_path, temporal_env, batch_size=100, max_concurrent_batches=2,
                                heartbeat_timeout_seconds=heartbeat) as services:
        await configure(services, "lean", virus_scanning="No")
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="big", path=f"transfers/{transfer_uuid}", processing_config="lean"))
        # Some batches done, most still to come.
        await wait_until(services, created.uuid, lambda i: i.files_done >= 200)

        asked = time.monotonic()
        response = await post(services, f"/ingests/{created.uuid}/cancel")
        assert response.status_code == 202, response.text
        cancelled = await wait_until(services, created.uuid, lambda i: i.status == IngestStatus.cancelled,
                                     timeout=60)
        took = time.monotonic() - asked
        print(f"\ncancelled {took:.2f} s after the request (heartbeat timeout {heartbeat} s), "
              f"{cancelled.files_done} of 2000 files done")
        assert took < heartbeat + 5
        assert cancelled.cancelled_by == "alice" and cancelled.cancelled_at is not None
        assert cancelled.files_done < 2000
        assert cancelled.current_job is None and cancelled.decision is None
        handle = temporal_env.client.get_workflow_handle(cancelled.workflow_id)
        async with asyncio.timeout(10):  # ends right after marking the ingest
            while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await asyncio.sleep(0.1)
        assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
        jobs = (await services.ingest.http.get(f"/ingests/{created.uuid}/jobs", params={"limit": 100})).json()["items"]
        assert not [job for job in jobs if job["status"] == "running"], jobs
        assert not list((tmp_path / "storage").rglob("*.7z"))

        # Once it says cancelled, nothing writes into its SIP any more.
        sip = processing / "sips" / str(created.uuid)
        before = await asyncio.to_thread(listing, sip)
        await asyncio.sleep(2)
        assert await asyncio.to_thread(listing, sip) == before

        # Clean-up: everything the ingest made goes; the transfer kept for the retry stays (and says so).
        cleaned = (await post(services, f"/ingests/{created.uuid}/clean-up")).json()
        assert [r["path"] for r in cleaned["removed"]] == [f"sips/{created.uuid}"]
        assert cleaned["bytes"] > 0 and cleaned["cleaned_by"] == "alice"
        assert cleaned["kept"] == [f"transfers/{transfer_uuid}"]
        assert not sip.exists() and not (processing / "quarantine" / str(created.uuid)).exists()
        assert len(list((processing / "transfers" / str(transfer_uuid) / "objects").rglob("*.txt"))) == 2000
        record = await services.ingest.get_ingest(created.uuid)
        assert record.cleaned_bytes == cleaned["bytes"] and record.cleaned_at is not None

        started = time.monotonic()
        response = await post(services, f"/ingests/{created.uuid}/retry")
        assert response.status_code == 201, response.text
        retry = IngestRead.model_validate(response.json())
        assert retry.uuid != created.uuid and retry.retry_of == created.uuid
        assert retry.transfer_uuid == transfer_uuid
        again = await post(services, f"/ingests/{created.uuid}/retry")
        assert again.status_code == 200 and again.json()["uuid"] == str(retry.uuid)
        done = await wait_for(services.ingest, retry.uuid, timeout=300)
        print(f"retry stored in {time.monotonic() - started:.1f} s")
        assert done.status == IngestStatus.stored, done.error
        assert done.file_count == 2000
        aips = list((tmp_path / "storage").rglob("*.7z"))
        assert len(aips) == 1 and str(retry.uuid) in aips[0].name
        files = await services.metadata.list_files(retry.uuid, limit=1)
        assert files.total == 2000
        # A stored ingest removed its SIP and the transfer it was built from; nothing is left of either attempt.
        assert sorted(p.name for p in processing.iterdir() if any(p.iterdir())) == []


async def test_clean_up_and_retry_are_refused_while_the_ingest_runs_and_after_the_transfer_went(
    tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    transfer_uuid = uuid.uuid4()
    processing = tmp_path / "processing"
    (place(processing, transfer_uuid) / "letter.txt").write_text("dear archivist\n")
    async with running_services(tmp_path, temporal_env) as services:
        await configure(services, "asking", create_sip="ask")
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="ask", path=f"transfers/{transfer_uuid}", processing_config="asking"))
        await wait_until(services, created.uuid, lambda i: i.status == IngestStatus.awaiting_decision)
        assert (await post(services, f"/ingests/{created.uuid}/clean-up")).status_code == 409
        assert (await post(services, f"/ingests/{created.uuid}/retry")).status_code == 409

        # Waiting for a person: cancelled through the workflow, which stops waiting.
        assert (await post(services, f"/ingests/{created.uuid}/cancel")).status_code == 202
        cancelled = await wait_until(services, created.uuid, lambda i: i.status == IngestStatus.cancelled,
                                     timeout=30)
        assert cancelled.cancelled_by == "alice" and cancelled.decision is None

        cleaned = (await post(services, f"/ingests/{created.uuid}/clean-up", transfer="true")).json()
        assert sorted(r["path"] for r in cleaned["removed"]) == [f"sips/{created.uuid}", f"transfers/{transfer_uuid}"]
        assert cleaned["kept"] == []
        assert not any(p.exists() for p in processing.glob(f"*/{created.uuid}"))
        refused = await post(services, f"/ingests/{created.uuid}/retry")
        assert refused.status_code == 409 and "nothing to retry" in refused.json()["detail"]
        # A second clean-up removes nothing more.
        second = (await post(services, f"/ingests/{created.uuid}/clean-up")).json()
        assert second["removed"] == [] and second["bytes"] == 0


async def test_retention_cleans_up_failed_ingests_after_the_set_hours(
    tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    processing = tmp_path / "processing"
    transfer_uuid = uuid.uuid4()
    (processing / "transfers" / str(transfer_uuid) / "metadata").mkdir(parents=True)  # no objects/: fails
    async with running_services(tmp_path, temporal_env, retention_hours=0.0005,
                                retention_interval_seconds=0.5) as services:
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="broken", path=f"transfers/{transfer_uuid}"))
        failed = await wait_for(services.ingest, created.uuid)
        assert failed.status == IngestStatus.failed
        cleaned = await wait_until(services, created.uuid, lambda i: i.cleaned_at is not None, timeout=30)
        assert cleaned.cleaned_by == "retention" and cleaned.transfer_removed
        assert not (processing / "transfers" / str(transfer_uuid)).exists()


async def test_the_transfer_follows_its_ingest_to_the_end_and_to_its_retry(
    tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    folder = tmp_path / "source" / "letters"
    folder.mkdir(parents=True)
    (folder / "letter.txt").write_text("dear archivist\n")
    async with running_services(tmp_path, temporal_env, with_transfer=True) as services:
        await configure(services, "asking", create_sip="ask")
        transfer = await services.transfer.upload_transfer("letters", folder, processing_config="asking")
        assert transfer.status == TransferStatus.ingesting and transfer.ingest_uuid is not None
        first = transfer.ingest_uuid
        await wait_until(services, first, lambda i: i.status == IngestStatus.awaiting_decision)
        assert (await post(services, f"/ingests/{first}/cancel")).status_code == 202
        await wait_until(services, first, lambda i: i.status == IngestStatus.cancelled, timeout=30)

        async def transfer_status(expected: TransferStatus) -> None:
            async with asyncio.timeout(30):
                while (await services.transfer.get_transfer(transfer.uuid)).status != expected:
                    await asyncio.sleep(0.1)

        await transfer_status(TransferStatus.cancelled)

        retry = IngestRead.model_validate((await post(services, f"/ingests/{first}/retry")).json())
        await transfer_status(TransferStatus.ingesting)
        assert (await services.transfer.get_transfer(transfer.uuid)).ingest_uuid == retry.uuid
        await wait_until(services, retry.uuid, lambda i: i.status == IngestStatus.awaiting_decision)
        answer = {"point": "create_sip", "choice": "Create single SIP and continue processing"}
        assert (await services.ingest.http.post(f"/ingests/{retry.uuid}/decisions", json=answer)).status_code == 202
        assert (await wait_for(services.ingest, retry.uuid)).status == IngestStatus.stored
        await transfer_status(TransferStatus.stored)
        final = await services.transfer.get_transfer(transfer.uuid)
        assert final.ingest_uuid == retry.uuid and final.error is None
