"""The metadata service's real app over ASGI, on SQLite and PostgreSQL (through `db_engine`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from clients.metadata import MetadataClient
from services.metadata.main import create_app
from services.metadata.settings import MetadataSettings

TOKEN = "metadata-test-token"


@pytest.fixture
def metadata_app(db_engine: AsyncEngine, tmp_path: Path) -> FastAPI:
    settings = MetadataSettings(
        data_dir=tmp_path, internal_token=TOKEN, organization_code="test-org", organization_name="Test Org",
        software_version="9.9.9",
    )
    return create_app(settings, engine=db_engine)


@pytest.fixture
async def metadata(metadata_app: FastAPI) -> AsyncIterator[MetadataClient]:
    """The typed client, talking to the real app in-process (lifespan and migrations included)."""
    async with metadata_app.router.lifespan_context(metadata_app):
        client = MetadataClient("http://metadata", token=TOKEN, transport=httpx.ASGITransport(app=metadata_app))
        try:
            yield client
        finally:
            await client.aclose()


@pytest.fixture
async def http(metadata_app: FastAPI, metadata: MetadataClient) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the app `metadata` runs. Not `asgi_client(metadata_app)` beside `metadata`: that starts the
    app's lifespan a second time, and its shutdown stops only the second search indexer, so the first one would
    run on in the session's event loop."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=metadata_app), base_url="http://metadata") as client:
        yield client
