"""The ingest service application."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from servicekit.app import create_service_app
from servicekit.background import stop_tasks
from servicekit.db import unit_of_work
from servicekit.outbox import outbox_router
from services.ingest.admission.service import Admission
from services.ingest.cleanup.service import Retention
from services.ingest.fpr.router import routers as fpr_routers
from services.ingest.fpr.service import upgrade_shipped
from services.ingest.ingests.metrics import install_ingest_metrics
from services.ingest.ingests.router import router as ingests_router
from services.ingest.jobs.router import router as jobs_router
from services.ingest.jobs.router import tasks_router
from services.ingest.normalization.router import router as normalization_router
from services.ingest.notifications.events import OUTBOX
from services.ingest.notifications.service import TransferNotifier
from services.ingest.processing.temporal import connect
from services.ingest.processing_configs.router import router as configs_router
from services.ingest.processing_configs.service import ensure_builtins
from services.ingest.settings import IngestSettings


def lazy_temporal(settings: IngestSettings) -> Callable[[], Awaitable[Client]]:
    """Connect on first use, so the service starts (and serves reads) while Temporal is still coming up."""
    client: Client | None = None
    lock = asyncio.Lock()

    async def get() -> Client:
        nonlocal client
        async with lock:
            if client is None:
                client = await connect(settings)
            return client

    return get


def create_app(settings: IngestSettings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    settings = settings or IngestSettings()

    async def startup(app: FastAPI) -> None:
        async with unit_of_work(app.state.sessions) as session:
            await ensure_builtins(session)
            await upgrade_shipped(session)
        install_ingest_metrics(app.state.metrics, app.state.sessions)
        app.state.temporal = lazy_temporal(settings)
        app.state.admission = Admission(app.state.sessions, app.state.temporal, settings)
        app.state.notifier = TransferNotifier(app.state.sessions, settings)
        app.state.retention = Retention(app.state.sessions, settings)
        app.state.background = [
            asyncio.create_task(app.state.admission.run_forever()),
            asyncio.create_task(app.state.notifier.run_forever()),
            asyncio.create_task(app.state.retention.run_forever()),
        ]

    async def shutdown(app: FastAPI) -> None:
        await stop_tasks(app.state.background)
        await app.state.notifier.aclose()

    return create_service_app(
        settings=settings,
        title="Amber ingest",
        description="Processing of transfers into AIPs on Temporal: ingests, their jobs and progress.",
        version=version("amber"),
        routers=[ingests_router, jobs_router, tasks_router, normalization_router, configs_router, *fpr_routers,
                 outbox_router(OUTBOX)],
        migrations_dir=Path(__file__).parent / "migrations",
        on_startup=startup,
        on_shutdown=shutdown,
        engine=engine,
    )
