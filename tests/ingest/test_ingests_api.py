"""The ingest service's records, over its real app, on SQLite and PostgreSQL, with a real Temporal server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.ingest import IngestClient
from clients.ingest.schemas import TaskRecord, TaskStatus
from services.ingest.main import create_app
from services.ingest.settings import IngestSettings
from tests.conftest import asgi_client


def settings_for(tmp_path: Path, env: WorkflowEnvironment) -> IngestSettings:
    return IngestSettings(
        data_dir=tmp_path, temporal_address=env.client.service_client.config.target_host,
        task_queue=f"test-{uuid.uuid4().hex[:8]}", internal_token="secret",
    )


async def test_create_is_idempotent_per_transfer_and_starts_one_workflow(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    settings = settings_for(tmp_path, temporal_env)
    app = create_app(settings, engine=db_engine)
    body = {"transfer_uuid": str(uuid.uuid4()), "name": "Box 1", "path": "transfers/x"}
    headers = {"Authorization": "Bearer secret", "X-Amber-User": "alice"}
    async with asgi_client(app) as client:
        first = await client.post("/ingests", json={**body, "created_by": "alice"}, headers=headers)
        assert first.status_code == 201, first.text
        again = await client.post("/ingests", json={**body, "created_by": "alice"}, headers=headers)
        assert again.status_code == 200
        assert again.json()["uuid"] == first.json()["uuid"]
        ingest_uuid = first.json()["uuid"]
        listing = await client.get("/ingests", headers=headers)
        assert listing.json()["total"] == 1
        handle = temporal_env.client.get_workflow_handle(first.json()["workflow_id"])
        description = await handle.describe()
        assert description.id == f"ingest-{ingest_uuid}"

        job = {"name": "Process files (1/2)", "microservice": "Process files", "status": "running",
               "files_total": 10, "files_done": 4}
        put = await client.put(f"/ingests/{ingest_uuid}/jobs/batch-000000", json=job, headers=headers)
        assert put.status_code == 200, put.text
        await client.put(f"/ingests/{ingest_uuid}/jobs/batch-000000", json={**job, "files_done": 10},
                         headers=headers)
        await client.put(f"/ingests/{ingest_uuid}/jobs/batch-000001", json={**job, "files_done": 3},
                         headers=headers)
        jobs = (await client.get(f"/ingests/{ingest_uuid}/jobs", headers=headers)).json()
        assert jobs["total"] == 2
        progress = (await client.get(f"/ingests/{ingest_uuid}", headers=headers)).json()
        assert progress["files_done"] == 13

        stored = await client.patch(f"/ingests/{ingest_uuid}", json={"status": "stored", "aip_path": "a/b"},
                                    headers=headers)
        assert stored.json()["status"] == "stored"
        reopened = await client.patch(f"/ingests/{ingest_uuid}", json={"status": "processing"}, headers=headers)
        assert reopened.status_code == 409
        assert reopened.headers["content-type"].startswith("application/problem+json")
        await handle.terminate("test finished")


async def test_a_batch_of_tasks_is_recorded_whole_and_a_retry_overwrites_it(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    app = create_app(settings_for(tmp_path, temporal_env), engine=db_engine)
    headers = {"Authorization": "Bearer secret"}
    async with asgi_client(app) as http:
        body = {"transfer_uuid": str(uuid.uuid4()), "name": "Tasks", "path": "transfers/tasks"}
        created = (await http.post("/ingests", json=body, headers=headers)).json()
        ingest_uuid = uuid.UUID(created["uuid"])
        job = {"name": "Process files", "microservice": "Process files", "status": "running", "files_total": 600}
        for key in ("batch-000000", "batch-000001"):
            assert (await http.put(f"/ingests/{ingest_uuid}/jobs/{key}", json=job, headers=headers)).status_code == 200
        client = IngestClient("http://service", token="secret", transport=httpx.ASGITransport(app=app))
        started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

        def tasks(failed_every: int, message: str) -> list[TaskRecord]:
            return [TaskRecord(path=f"objects/f{n:04d}.txt", file_uuid=uuid.uuid5(ingest_uuid, str(n)),
                               status=TaskStatus.failed if n % failed_every == 0 else TaskStatus.completed,
                               exit_code=1 if n % failed_every == 0 else 0, message=f"{message} {n}",
                               started_at=started, finished_at=started + timedelta(seconds=n))
                    for n in range(600)]

        # 600 tasks make a gzip-compressed body; the other job's tasks for the same paths are rows of their own.
        assert await client.record_tasks(ingest_uuid, "batch-000000", tasks(7, "first")) == 600
        assert await client.record_tasks(ingest_uuid, "batch-000001", tasks(600, "other job")) == 600
        assert await client.record_tasks(ingest_uuid, "batch-000000", tasks(5, "retried")) == 600

        async def listed(**params: str) -> dict[str, Any]:
            response = await http.get(f"/ingests/{ingest_uuid}/tasks", params={"limit": 1000, **params},
                                      headers=headers)
            assert response.status_code == 200, response.text
            return dict(response.json())

        first = await listed(job="batch-000000")
        assert first["total"] == 600
        by_path = {item["path"]: item for item in first["items"]}
        assert by_path["objects/f0005.txt"]["status"] == "failed" and by_path["objects/f0005.txt"]["exit_code"] == 1
        assert by_path["objects/f0007.txt"]["status"] == "completed"
        assert by_path["objects/f0042.txt"]["message"] == "retried 42"
        assert by_path["objects/f0042.txt"]["file_uuid"] == str(uuid.uuid5(ingest_uuid, "42"))
        assert datetime.fromisoformat(by_path["objects/f0042.txt"]["finished_at"]) == started + timedelta(seconds=42)
        assert (await listed())["total"] == 1200
        assert (await listed(status="failed"))["total"] == 120 + 1
        await client.aclose()
        await temporal_env.client.get_workflow_handle(created["workflow_id"]).terminate("test finished")


@pytest.mark.parametrize("header", [None, "Bearer wrong"])
async def test_requests_without_the_internal_token_are_refused(
    header: str | None, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    from tests.conftest import database_engine

    async with database_engine("sqlite", tmp_path) as (engine, _url):
        app = create_app(settings_for(tmp_path, temporal_env), engine=engine)
        async with asgi_client(app) as client:
            headers = {"Authorization": header} if header else {}
            response = await client.get("/ingests", headers=headers)
            assert response.status_code == 401
            assert response.json()["title"] == "Unauthorized"
            missing = await client.get(f"/ingests/{uuid.uuid4()}", headers={"Authorization": "Bearer secret"})
            assert missing.status_code == 404


async def test_admission_control_queues_beyond_the_cap_and_admits_as_slots_free(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    settings = settings_for(tmp_path, temporal_env).model_copy(
        update={"max_active_ingests": 1, "admission_interval_seconds": 3600}
    )
    app = create_app(settings, engine=db_engine)
    headers = {"Authorization": "Bearer secret"}
    async with asgi_client(app) as client:
        created = []
        for index in range(3):
            body = {"transfer_uuid": str(uuid.uuid4()), "name": f"box {index}", "path": f"transfers/{index}"}
            response = await client.post("/ingests", json=body, headers=headers)
            assert response.status_code == 201, response.text
            created.append(response.json())
        assert [c["queue_position"] for c in created] == [None, 1, 2]

        async def running(ingest: dict[str, object]) -> bool:
            handle = temporal_env.client.get_workflow_handle(str(ingest["workflow_id"]))
            try:
                await handle.describe()
            except Exception:
                return False
            return True

        assert [await running(c) for c in created] == [True, False, False]
        done = await client.patch(f"/ingests/{created[0]['uuid']}", json={"status": "failed", "error": "x"},
                                  headers=headers)
        assert done.status_code == 200
        second = (await client.get(f"/ingests/{created[1]['uuid']}", headers=headers)).json()
        third = (await client.get(f"/ingests/{created[2]['uuid']}", headers=headers)).json()
        assert (second["queue_position"], third["queue_position"]) == (None, 1)
        assert [await running(c) for c in created] == [True, True, False]
        for ingest in created[:2]:
            await temporal_env.client.get_workflow_handle(str(ingest["workflow_id"])).terminate("test done")


async def test_processing_configurations_are_managed_through_the_api(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    app = create_app(settings_for(tmp_path, temporal_env), engine=db_engine)
    headers = {"Authorization": "Bearer secret"}
    async with asgi_client(app) as client:
        listed = (await client.get("/processing-configurations", headers=headers)).json()
        assert {c["name"] for c in listed} == {"automated", "default", "normalize"}
        default = (await client.get("/processing-configurations/default", headers=headers)).json()
        assert default["builtin"] and default["fields"]["store_aip"] == "ask"
        created = await client.put("/processing-configurations/fast", headers=headers,
                                   json={"fields": {"compression_algo": "7z without compression"}})
        assert created.status_code == 201
        assert created.json()["fields"]["compression_algo"] == "7z without compression"
        replaced = await client.put("/processing-configurations/fast", headers=headers,
                                    json={"fields": {"compression_level": "1"}})
        assert replaced.status_code == 200 and replaced.json()["fields"]["compression_level"] == "1"
        bad = await client.put("/processing-configurations/fast", headers=headers,
                               json={"fields": {"compression_level": "11"}})
        assert bad.status_code == 422
        assert (await client.delete("/processing-configurations/default", headers=headers)).status_code == 409
        assert (await client.delete("/processing-configurations/fast", headers=headers)).status_code == 204
        unknown = await client.post("/ingests", headers=headers, json={
            "transfer_uuid": str(uuid.uuid4()), "name": "x", "path": "transfers/x", "processing_config": "nope"})
        assert unknown.status_code == 404
