"""A transfer follows its ingest to the end: the ingest service reports (internal operation), the transfer maps."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from tests.transfer.harness import make_zip, transfer_stack


async def test_the_transfer_status_follows_reports_of_its_ingest_and_of_a_retry(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        response = await stack.http.post(
            "/transfers/upload", params={"name": "Box 1", "filename": "box1.zip"},
            content=make_zip({"alpha.txt": b"alpha\n"}), headers={"Content-Type": "application/octet-stream"},
        )
        transfer = response.json()
        assert transfer["status"] == "ingesting"
        first, url = transfer["ingest_uuid"], f"/transfers/{transfer['uuid']}/ingest-status"

        async def report(**body: object) -> dict[str, object]:
            answer = await stack.http.put(url, json=body)
            assert answer.status_code == 200, answer.text
            result: dict[str, object] = answer.json()
            return result

        failed = await report(ingest_uuid=first, status="failed", error="Virus scan: infected files found")
        assert (failed["status"], failed["error"]) == ("failed", "Ingest failed: Virus scan: infected files found")
        assert await report(ingest_uuid=first, status="failed", error="Virus scan: infected files found") == failed

        retry = str(uuid.uuid4())
        following = await report(ingest_uuid=retry, status="queued", retry_of=first)
        assert (following["status"], following["ingest_uuid"], following["error"]) == ("ingesting", retry, None)
        # A late report about the attempt the retry replaced changes nothing.
        late = await report(ingest_uuid=first, status="cancelled")
        assert (late["status"], late["ingest_uuid"]) == ("ingesting", retry)
        # Nor does a stranger's.
        stranger = await report(ingest_uuid=str(uuid.uuid4()), status="stored")
        assert stranger["status"] == "ingesting"

        stored = await report(ingest_uuid=retry, status="stored")
        assert stored["status"] == "stored"
        listed = (await stack.http.get("/transfers", params={"status": "stored"})).json()
        assert [t["uuid"] for t in listed["items"]] == [transfer["uuid"]]

        missing = await stack.http.put(f"/transfers/{uuid.uuid4()}/ingest-status",
                                       json={"ingest_uuid": first, "status": "stored"})
        assert missing.status_code == 404


async def test_deleting_a_transfer_whose_ingest_failed_leaves_the_folder_its_ingest_keeps_for_a_retry(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        transfer = (await stack.http.post(
            "/transfers/upload", params={"name": "Box 2"}, content=make_zip({"beta.txt": b"beta\n"}),
            headers={"Content-Type": "application/octet-stream"},
        )).json()
        await stack.http.put(f"/transfers/{transfer['uuid']}/ingest-status",
                             json={"ingest_uuid": transfer["ingest_uuid"], "status": "failed", "error": "x"})
        assert (await stack.http.delete(f"/transfers/{transfer['uuid']}")).status_code == 204
        # The ingest owns it: `POST /ingests/{id}/retry` builds from it, its clean-up removes it.
        assert (stack.transfer_dir(transfer["uuid"]) / "objects" / "beta.txt").read_bytes() == b"beta\n"
