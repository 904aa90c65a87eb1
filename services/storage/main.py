"""The storage service application."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.app import create_service_app
from servicekit.db import unit_of_work
from services.storage.locations.router import router as locations_router
from services.storage.locations.service import default_locations, ensure_default_locations
from services.storage.packages.router import router as packages_router
from services.storage.settings import StorageSettings


async def _create_default_folders(settings: StorageSettings) -> None:
    def sync() -> None:
        for wanted in default_locations(settings):
            wanted.path.mkdir(parents=True, exist_ok=True)

    await anyio.to_thread.run_sync(sync)


def create_app(settings: StorageSettings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    settings = settings or StorageSettings()

    async def startup(app: FastAPI) -> None:
        # Folders first, then a short transaction: no file I/O inside it.
        await _create_default_folders(settings)
        for attempt in (1, 2):
            try:
                async with unit_of_work(app.state.sessions) as session:
                    await ensure_default_locations(session, settings)
                break
            except IntegrityError:
                # Another storage process sharing the database created them at the same moment.
                if attempt == 2:
                    raise

    return create_service_app(
        settings=settings,
        title="Amber storage",
        description="Storage spaces and locations, and the AIPs kept in them: streamed, checksummed, "
        "laid out like the Archivematica Storage Service.",
        version=version("amber"),
        routers=[locations_router, packages_router],
        migrations_dir=Path(__file__).parent / "migrations",
        on_startup=startup,
        engine=engine,
    )
