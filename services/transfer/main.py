"""The transfer (intake) service application."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.app import create_service_app
from services.transfer.deps import close_peers, open_peers
from services.transfer.settings import TransferSettings
from services.transfer.transfers.router import router as transfers_router
from services.transfer.transfers.service import fail_interrupted
from services.transfer.uploads.router import router as uploads_router


async def start(app: FastAPI) -> None:
    await fail_interrupted(app.state.sessions, app.state.settings)
    await open_peers(app)


def create_app(settings: TransferSettings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    settings = settings or TransferSettings()
    return create_service_app(
        settings=settings,
        title="Amber transfer",
        description="Intake: transfers from transfer-source locations or uploaded archives, placed for processing "
        "and handed to the ingest service.",
        version=version("amber"),
        routers=[transfers_router, uploads_router],
        migrations_dir=Path(__file__).parent / "migrations",
        on_startup=start,
        on_shutdown=close_peers,
        engine=engine,
    )
