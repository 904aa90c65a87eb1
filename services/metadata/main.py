"""The metadata service application."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.app import create_service_app
from services.metadata.events.router import router as events_router
from services.metadata.files.router import router as files_router
from services.metadata.mets.router import router as mets_router
from services.metadata.packages.router import router as packages_router
from services.metadata.settings import MetadataSettings, installed_version


def create_app(settings: MetadataSettings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    settings = settings or MetadataSettings()
    return create_service_app(
        settings=settings,
        title="Amber metadata",
        description="PREMIS objects, events and agents of each package, and the AIP METS rendered from them.",
        version=installed_version(),
        routers=[packages_router, files_router, events_router, mets_router],
        migrations_dir=Path(__file__).parent / "migrations",
        engine=engine,
    )
