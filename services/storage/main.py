"""The storage service application."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from pathlib import Path

import anyio
import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.app import create_service_app
from servicekit.db import unit_of_work
from servicekit.outbox import outbox_router
from services.storage.deletions.router import router as deletions_router
from services.storage.domain_events import OUTBOX
from services.storage.events import close_metadata_client, event_recorder, open_metadata_client
from services.storage.fixity.service import scheduled_audits
from services.storage.locations.router import audits_router
from services.storage.locations.router import router as locations_router
from services.storage.locations.service import default_locations, ensure_default_locations
from services.storage.packages.metrics import StorageMetrics
from services.storage.packages.router import backlog_router, dips_router, packages_router
from services.storage.packages.router import router as aips_router
from services.storage.runtime import Runtime
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
        await open_metadata_client(app)
        runtime = Runtime(
            settings=settings, sessions=app.state.sessions, events=event_recorder(app),
            limiter=anyio.CapacityLimiter(settings.max_parallel_checks),
            metrics=StorageMetrics(app.state.metrics, app.state.sessions),
        )
        app.state.runtime = runtime
        if settings.fixity_audit_interval_seconds > 0:
            runtime.spawn(scheduled_audits(runtime))

    async def shutdown(app: FastAPI) -> None:
        runtime: Runtime | None = getattr(app.state, "runtime", None)
        if runtime is not None:
            tasks = list(runtime.background)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await close_metadata_client(app)

    return create_service_app(
        settings=settings,
        title="Amber storage",
        description="Storage spaces and locations, and the AIPs kept in them: streamed, checksummed, "
        "laid out like the Archivematica Storage Service; fixity checks and audits, replication, recovery and "
        "approved deletion.",
        version=version("amber"),
        routers=[locations_router, audits_router, aips_router, dips_router, backlog_router, packages_router,
                 deletions_router, outbox_router(OUTBOX)],
        migrations_dir=Path(__file__).parent / "migrations",
        on_startup=startup,
        on_shutdown=shutdown,
        engine=engine,
    )
