"""Restart recovery touches only transfers whose process is provably gone (their lease ran out).

A transfer left half-received by a dead process is failed and its name freed; one another live process is
receiving is left alone; an approved transfer whose process was killed while handing it to ingest is handed over
again, never deleted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.transfer import TransferSourceKind, TransferStatus
from servicekit import migrations
from servicekit.db import session_factory, unit_of_work, utcnow
from services.transfer.main import create_app
from services.transfer.settings import TransferSettings
from services.transfer.transfers.models import Transfer
from services.transfer.transfers.repository import TransferRepository
from tests.conftest import asgi_client, bound_socket, database_engine
from tests.transfer.harness import AUTH, INTERNAL_TOKEN, make_zip, transfer_stack

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "transfer" / "migrations"


async def wait_for_status(http: httpx.AsyncClient, transfer_uuid: uuid.UUID, status: str,
                          timeout: float = 20) -> dict[str, object]:
    async with asyncio.timeout(timeout):
        while True:
            transfer: dict[str, object] = (await http.get(f"/transfers/{transfer_uuid}", headers=AUTH)).json()
            if transfer["status"] == status:
                return transfer
            await asyncio.sleep(0.1)


async def add_received(engine: AsyncEngine, settings: TransferSettings, name: str, *, owner: str | None,
                       lease: timedelta | None) -> Path:
    """The record (and half-placed folder) a process receiving a transfer has, with its lease."""
    transfer_uuid = uuid.uuid4()
    partial = settings.processing_dir / "transfers" / str(transfer_uuid) / "objects"
    partial.mkdir(parents=True)
    (partial / "half.bin").write_bytes(b"half")
    now = utcnow()
    async with unit_of_work(session_factory(engine)) as session:
        TransferRepository(session).add(Transfer(
            uuid=transfer_uuid, name=name, source_kind=TransferSourceKind.upload, source=f"{name}.zip",
            status=TransferStatus.received, step="placing", path=f"transfers/{transfer_uuid}", active_name=name,
            created_by="alice", created_at=now, updated_at=now, owner=owner,
            lease_expires_at=None if lease is None else now + lease,
        ))
    return partial.parent


async def test_only_transfers_whose_lease_ran_out_are_recovered(db_engine: AsyncEngine, tmp_path: Path) -> None:
    settings = TransferSettings(data_dir=tmp_path / "amber", internal_token=INTERNAL_TOKEN)
    await migrations.upgrade(db_engine, MIGRATIONS)
    # A dead process's transfer (lease ran out a minute ago), one from before leases existed, and one a live
    # process holds for another minute.
    dead = await add_received(db_engine, settings, "Dead", owner="dead-process", lease=timedelta(minutes=-1))
    legacy = await add_received(db_engine, settings, "Legacy", owner=None, lease=None)
    live = await add_received(db_engine, settings, "Live", owner="live-process", lease=timedelta(minutes=1))
    async with asgi_client(create_app(settings, engine=db_engine)) as http:
        for folder in (dead, legacy):
            transfer = await wait_for_status(http, uuid.UUID(folder.name), "failed")
            assert transfer["error"] == "The transfer service stopped while the transfer was placing"
            assert not folder.exists()
        await asyncio.sleep(0.5)
        assert (await http.get(f"/transfers/{live.name}", headers=AUTH)).json()["status"] == "received"
    assert (live / "objects" / "half.bin").exists()
    async with unit_of_work(session_factory(db_engine)) as session:
        repository = TransferRepository(session)
        for folder in (dead, legacy):
            record = await repository.get(uuid.UUID(folder.name))
            assert record is not None and record.active_name is None and record.owner is None
        held = await repository.get(uuid.UUID(live.name))
        assert held is not None and held.owner == "live-process" and held.active_name == "Live"


async def slow_body(first: bytes, rest: bytes, go_on: asyncio.Event) -> AsyncIterator[bytes]:
    yield first
    await go_on.wait()
    yield rest


async def test_a_restarting_instance_leaves_the_other_instances_transfer_alone(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive = make_zip({"objects/a.txt": b"alpha\n", "objects/b.txt": b"beta\n" * 1000})
    async with transfer_stack(db_engine, tmp_path, temporal_env, lease_seconds=1) as other:
        # The other instance receives an upload whose body is still arriving.
        go_on = asyncio.Event()
        upload = asyncio.create_task(other.http.post(
            "/transfers/upload", params={"name": "Slow"}, content=slow_body(archive[:100], archive[100:], go_on),
        ))
        async with asyncio.timeout(10):
            while not (listed := (await other.http.get("/transfers", params={"name": "Slow"})).json())["items"]:
                await asyncio.sleep(0.05)
        in_flight = listed["items"][0]
        assert in_flight["status"] == "received"
        # This instance starts, stops and starts again on the same database, over several lease lengths.
        for _ in range(2):
            async with asgi_client(create_app(other.settings, engine=db_engine)) as http:
                await asyncio.sleep(2.5)
                assert (await http.get(f"/transfers/{in_flight['uuid']}", headers=AUTH)).json()["status"] == "received"
        async with unit_of_work(session_factory(db_engine)) as session:
            record = await TransferRepository(session).get(uuid.UUID(in_flight["uuid"]))
            assert record is not None and record.owner == other.app.state.leases.owner
            assert record.lease_expires_at is not None and record.lease_expires_at > utcnow()
        go_on.set()
        response = await upload
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "ingesting"
        assert (other.transfer_dir(in_flight["uuid"]) / "objects" / "b.txt").read_bytes() == b"beta\n" * 1000


async def test_an_approved_transfer_survives_a_kill_during_its_hand_off(
    tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with database_engine("sqlite", tmp_path) as (engine, url):
        async with transfer_stack(engine, tmp_path, temporal_env, lease_seconds=1) as first:
            response = await first.http.post("/transfers/upload", params={"name": "Approve me", "auto_approve": False},
                                             content=make_zip({"objects/a.txt": b"alpha\n"}))
            assert response.status_code == 201, response.text
            waiting = response.json()
            assert waiting["status"] == "awaiting_approval"
        folder = first.transfer_dir(waiting["uuid"])

        # Another transfer-service process approves it; its ingest service takes the request and never answers.
        connected = asyncio.Event()

        async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connected.set()
            await reader.read()

        silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        silent_port = silent.sockets[0].getsockname()[1]
        sock = bound_socket()
        port = sock.getsockname()[1]
        sock.close()
        env = {**os.environ, "AMBER_DATA_DIR": str(tmp_path / "amber"), "AMBER_INTERNAL_TOKEN": INTERNAL_TOKEN,
               "AMBER_TRANSFER_DATABASE_URL": url, "AMBER_INGEST_URL": f"http://127.0.0.1:{silent_port}",
               "AMBER_TRANSFER_LEASE_SECONDS": "1"}
        with (tmp_path / "transfer.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "amber_cli", "serve", "transfer", "--port", str(port), env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
            )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as http:
                async with asyncio.timeout(30):
                    while True:
                        try:
                            if (await http.get("/healthz")).status_code == 200:
                                break
                        except httpx.TransportError:
                            pass
                        await asyncio.sleep(0.1)
                approval = asyncio.create_task(http.post(f"/transfers/{waiting['uuid']}/approve"))
                async with asyncio.timeout(10):
                    await connected.wait()
                os.kill(process.pid, signal.SIGKILL)
                await process.wait()
                approval.cancel()
        finally:
            if process.returncode is None:
                os.kill(process.pid, signal.SIGKILL)
                await process.wait()
            silent.close()
        async with unit_of_work(session_factory(engine)) as session:
            record = await TransferRepository(session).get(uuid.UUID(waiting["uuid"]))
            assert record is not None and record.status is TransferStatus.received

        # The service restarts: once the killed process's lease has run out the transfer goes to ingest.
        async with transfer_stack(engine, tmp_path, temporal_env, lease_seconds=1) as restarted:
            handed = await wait_for_status(restarted.http, uuid.UUID(waiting["uuid"]), "ingesting")
            assert handed["ingest_uuid"] is not None
            ingest = await restarted.ingest_http.get(f"/ingests/{handed['ingest_uuid']}")
            assert ingest.status_code == 200 and ingest.json()["transfer_uuid"] == waiting["uuid"]
        assert (folder / "objects" / "a.txt").read_bytes() == b"alpha\n"
