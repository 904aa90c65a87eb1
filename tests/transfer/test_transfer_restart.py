"""A transfer left half-received by a stopped process is failed at the next start-up, its name freed."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from clients.transfer import TransferSourceKind, TransferStatus
from servicekit import migrations
from servicekit.db import session_factory, unit_of_work, utcnow
from services.transfer.main import create_app
from services.transfer.settings import TransferSettings
from services.transfer.transfers.models import Transfer
from services.transfer.transfers.repository import TransferRepository
from tests.conftest import asgi_client

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "transfer" / "migrations"


async def test_start_up_fails_transfers_a_stopped_process_was_receiving(db_engine: AsyncEngine, tmp_path: Path) -> None:
    settings = TransferSettings(data_dir=tmp_path / "amber", internal_token="t")
    stuck_uuid = uuid.uuid4()
    partial = settings.processing_dir / "transfers" / str(stuck_uuid) / "objects"
    partial.mkdir(parents=True)
    (partial / "half.bin").write_bytes(b"half")
    # The state a killed process leaves: a record still being received, holding its name.
    await migrations.upgrade(db_engine, MIGRATIONS)
    now = utcnow()
    async with unit_of_work(session_factory(db_engine)) as session:
        TransferRepository(session).add(Transfer(
            uuid=stuck_uuid, name="Box", source_kind=TransferSourceKind.upload, source="box.zip",
            status=TransferStatus.received, step="placing", path=f"transfers/{stuck_uuid}", active_name="Box",
            created_by="alice", created_at=now, updated_at=now,
        ))
    async with asgi_client(create_app(settings, engine=db_engine)) as http:
        response = await http.get(f"/transfers/{stuck_uuid}", headers={"Authorization": "Bearer t"})
        transfer = response.json()
        assert transfer["status"] == "failed"
        assert transfer["error"] == "The transfer service stopped while the transfer was placing"
    assert not partial.parent.exists()
    async with unit_of_work(session_factory(db_engine)) as session:
        record = await TransferRepository(session).get(stuck_uuid)
        assert record is not None and record.active_name is None
