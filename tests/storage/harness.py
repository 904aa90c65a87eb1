"""The storage service's real app over ASGI, with a raw httpx client and the typed StorageClient."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from clients.metadata import MetadataClient
from clients.metadata.schemas import PackageUpsert
from clients.storage import StorageClient
from servicekit.db import create_engine
from services.metadata.main import create_app as create_metadata_app
from services.metadata.settings import MetadataSettings
from services.storage.main import create_app
from services.storage.settings import StorageSettings
from tests.conftest import asgi_client

TOKEN = "storage-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE_URL = "http://storage"


def settings_for(tmp_path: Path, **overrides: object) -> StorageSettings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "internal_token": TOKEN,
        "transfer_source_dirs": [tmp_path / "sources" / "a", tmp_path / "sources" / "b"],
        "fixity_audit_interval_seconds": 0,
    }
    values.update(overrides)
    return StorageSettings.model_validate(values)


@dataclass
class Storage:
    app: FastAPI
    settings: StorageSettings
    http: httpx.AsyncClient
    client: StorageClient
    metadata: MetadataClient

    def as_user(self, user: str) -> StorageClient:
        """The typed client acting for `user`, as the gateway would forward it (X-Amber-User)."""
        return StorageClient(BASE_URL, token=TOKEN, transport=httpx.ASGITransport(app=self.app), retries=0,
                             user=user)

    async def register(self, package_uuid: object, name: str) -> None:
        """Tell the metadata service about the package, as ingest does before storing it."""
        import uuid as uuid_module

        await self.metadata.upsert_package(uuid_module.UUID(str(package_uuid)), PackageUpsert(name=name))

    @property
    def aip_dir(self) -> Path:
        return self.settings.aip_store_dir


@asynccontextmanager
async def running_storage(
    settings: StorageSettings,
    engine: AsyncEngine,
    wrap_transport: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
) -> AsyncIterator[Storage]:
    """The app with its lifespan run; `wrap_transport` may interpose on the typed client's requests.

    A real metadata service (its own SQLite database) receives the PREMIS events storage records.
    """
    metadata_settings = MetadataSettings.model_validate(
        {"data_dir": settings.data_dir / "metadata", "internal_token": TOKEN}
    )
    metadata_engine = create_engine(f"sqlite+aiosqlite:///{settings.data_dir}/metadata-test.sqlite")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metadata_app = create_metadata_app(metadata_settings, engine=metadata_engine)
    app = create_app(settings, engine=engine)
    metadata = MetadataClient("http://metadata", token=TOKEN, transport=httpx.ASGITransport(app=metadata_app))
    app.state.metadata_client = metadata
    async with (
        metadata_app.router.lifespan_context(metadata_app),
        asgi_client(app, base_url=BASE_URL) as http,
    ):
        http.headers.update(AUTH)
        transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=app)
        if wrap_transport is not None:
            transport = wrap_transport(transport)
        client = StorageClient(BASE_URL, token=TOKEN, transport=transport, retries=2)
        try:
            yield Storage(app=app, settings=settings, http=http, client=client, metadata=metadata)
        finally:
            await client.aclose()
            await metadata.aclose()
            await metadata_engine.dispose()


def write_random_file(path: Path, size: int) -> str:
    """A file of `size` random bytes, written in pieces; returns its SHA-256."""
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        remaining = size
        while remaining:
            piece = os.urandom(min(remaining, 1024 * 1024))
            out.write(piece)
            digest.update(piece)
            remaining -= len(piece)
    return digest.hexdigest()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())


