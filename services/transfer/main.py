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


def create_app(settings: TransferSettings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    settings = settings or TransferSettings()
    return create_service_app(
        settings=settings,
        title="Amber transfer",
        description="Intake: transfers from transfer-source locations or uploaded archives, placed for processing "
        "and handed to the ingest service.",
        version=version("amber"),
        routers=[transfers_router],
        migrations_dir=Path(__file__).parent / "migrations",
        on_startup=open_peers,
        on_shutdown=close_peers,
        engine=engine,
    )
