"""The transfer (intake) service application."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.app import create_service_app
from servicekit.background import stop_tasks
from servicekit.outbox import outbox_router
from services.transfer.deps import close_peers, open_peers
from services.transfer.settings import TransferSettings
from services.transfer.transfers.events import OUTBOX
from services.transfer.transfers.leases import Leases
from services.transfer.transfers.metrics import install_transfer_metrics
from services.transfer.transfers.router import router as transfers_router
from services.transfer.transfers.service import recover_abandoned
from services.transfer.uploads.router import router as uploads_router


async def start(app: FastAPI) -> None:
    await open_peers(app)
    install_transfer_metrics(app.state.metrics, app.state.sessions)
    settings: TransferSettings = app.state.settings
    leases = app.state.leases = Leases(app.state.sessions, settings.lease_seconds)

    async def recover() -> int:
        return await recover_abandoned(app.state.sessions, settings, app.state.ingest_client, leases)

    app.state.lease_task = asyncio.create_task(leases.run_forever(recover))


async def stop(app: FastAPI) -> None:
    await stop_tasks([app.state.lease_task])
    await close_peers(app)


def create_app(settings: TransferSettings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    settings = settings or TransferSettings()
    return create_service_app(
        settings=settings,
        title="Amber transfer",
        description="Intake: transfers from transfer-source locations or uploaded archives, placed for processing "
        "and handed to the ingest service.",
        version=version("amber"),
        routers=[transfers_router, uploads_router, outbox_router(OUTBOX)],
        migrations_dir=Path(__file__).parent / "migrations",
        on_startup=start,
        on_shutdown=stop,
        engine=engine,
    )
