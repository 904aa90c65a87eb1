"""The metadata service application."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.app import create_service_app
from services.metadata.events.router import router as events_router
from services.metadata.files.router import router as files_router
from services.metadata.imports.router import router as imports_router
from services.metadata.mets.router import router as mets_router
from services.metadata.packages.router import router as packages_router
from services.metadata.record.router import router as record_router
from services.metadata.search.router import router as search_router
from services.metadata.search.service import Indexer
from services.metadata.settings import MetadataSettings, installed_version


def create_app(settings: MetadataSettings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    settings = settings or MetadataSettings()

    async def start_indexer(app: FastAPI) -> None:
        app.state.indexer = Indexer(app.state.sessions, settings.index_batch)
        app.state.indexer.start()
        app.state.indexer.wake.set()  # packages queued before a restart

    async def stop_indexer(app: FastAPI) -> None:
        await app.state.indexer.stop()

    return create_service_app(
        settings=settings,
        title="Amber metadata",
        description="The preservation record of each package (PREMIS objects, events, agents, rights, descriptive "
        "metadata), the AIP METS rendered from it, validation, import and search.",
        version=installed_version(),
        routers=[packages_router, files_router, events_router, record_router, imports_router, mets_router,
                 search_router],
        migrations_dir=Path(__file__).parent / "migrations",
        on_startup=start_indexer,
        on_shutdown=stop_indexer,
        engine=engine,
    )
