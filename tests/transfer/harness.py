"""The transfer service over ASGI, wired to the real ingest service (itself on a real Temporal dev server)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import socket
import tarfile
import uuid
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.ingest import IngestClient
from clients.storage import StorageClient
from clients.transfer import TransferClient
from services.ingest.main import create_app as create_ingest_app
from services.ingest.settings import IngestSettings
from services.storage.main import create_app as create_storage_app
from services.storage.settings import StorageSettings
from services.transfer.main import create_app
from services.transfer.settings import TransferSettings
from tests.conftest import serve_http

INTERNAL_TOKEN = "transfer-test-token"
AUTH = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}


@dataclass
class TransferStack:
    app: FastAPI
    client: TransferClient
    http: httpx.AsyncClient
    ingest_http: httpx.AsyncClient
    storage: StorageClient
    settings: TransferSettings

    @property
    def transfers_dir(self) -> Path:
        return self.settings.processing_dir / "transfers"

    @property
    def uploads_dir(self) -> Path:
        return self.settings.processing_dir / "uploads"

    def transfer_dir(self, transfer_uuid: uuid.UUID | str) -> Path:
        return self.transfers_dir / str(transfer_uuid)

    def leftovers(self) -> list[str]:
        """Whatever intake left in its working folders."""
        found: list[str] = []
        for folder in (self.transfers_dir, self.uploads_dir):
            if folder.exists():
                found += [str(p.relative_to(self.settings.processing_dir)) for p in folder.iterdir()]
        return sorted(found)


def dead_url() -> str:
    """A URL on which nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@asynccontextmanager
async def lifespan_of(app: FastAPI) -> AsyncIterator[None]:
    async with app.router.lifespan_context(app):
        yield


@asynccontextmanager
async def serving(
    app: FastAPI, real_http: bool
) -> AsyncIterator[tuple[str, httpx.AsyncBaseTransport | None]]:
    """The app's base URL and the transport reaching it: ASGI in process, or uvicorn on a local port."""
    if not real_http:
        async with lifespan_of(app):
            yield "http://transfer", httpx.ASGITransport(app=app)
        return
    async with serve_http(app) as url:
        yield url, None


@asynccontextmanager
async def transfer_stack(
    engine: AsyncEngine,
    tmp_path: Path,
    temporal_env: WorkflowEnvironment,
    *,
    ingest_reachable: bool = True,
    storage_reachable: bool = True,
    real_http: bool = False,
    **overrides: Any,
) -> AsyncIterator[TransferStack]:
    """Transfer over ASGI (or real HTTP) with the real ingest and storage apps (own SQLite files) as its peers.

    The storage service offers `<tmp_path>/source` as its transfer source location; `storage_roots` (settings
    such as `allowed_roots`) go to both services, as one environment would.
    """
    # Both services read the transfer sources and allowed roots from one environment; here, from the same values.
    roots = {"transfer_source_dirs": [tmp_path / "source"], **overrides.pop("storage_roots", {})}
    settings = TransferSettings(**{"data_dir": tmp_path / "amber", "internal_token": INTERNAL_TOKEN, **roots,
                                   **overrides})
    storage_app = create_storage_app(
        StorageSettings(data_dir=tmp_path / "amber", internal_token=INTERNAL_TOKEN, **roots)
    )
    ingest_settings = IngestSettings(
        data_dir=tmp_path / "amber", internal_token=INTERNAL_TOKEN,
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=f"transfer-test-{uuid.uuid4().hex[:8]}",
    )
    ingest_app = create_ingest_app(ingest_settings)
    app = create_app(settings, engine=engine)
    async with lifespan_of(ingest_app), lifespan_of(storage_app):
        if ingest_reachable:
            app.state.ingest_client = IngestClient(
                "http://ingest", token=INTERNAL_TOKEN, transport=httpx.ASGITransport(app=ingest_app)
            )
        else:
            app.state.ingest_client = IngestClient(dead_url(), token=INTERNAL_TOKEN, retries=1)
        storage_transport = httpx.ASGITransport(app=storage_app)
        if storage_reachable:
            app.state.storage_client = StorageClient(
                "http://storage", token=INTERNAL_TOKEN, transport=storage_transport
            )
        else:
            app.state.storage_client = StorageClient(dead_url(), token=INTERNAL_TOKEN, retries=0)
        storage = StorageClient("http://storage", token=INTERNAL_TOKEN, transport=storage_transport)
        async with serving(app, real_http) as (base_url, transport):
            client = TransferClient(base_url, token=INTERNAL_TOKEN, transport=transport)
            async with (
                httpx.AsyncClient(transport=transport, base_url=base_url, headers=AUTH) as http,
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=ingest_app), base_url="http://ingest", headers=AUTH
                ) as ingest_http,
            ):
                try:
                    yield TransferStack(app, client, http, ingest_http, storage, settings)
                finally:
                    await client.aclose()
        for peer in (app.state.ingest_client, app.state.storage_client, storage):
            await peer.aclose()


# --- archives ------------------------------------------------------------------------------------------------


def make_zip(entries: dict[str, bytes | None], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of `entries` (name -> content; None makes a folder entry)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in entries.items():
            if content is None:
                archive.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
            else:
                info = zipfile.ZipInfo(name, date_time=(2020, 5, 17, 12, 30, 0))
                info.compress_type = compression
                archive.writestr(info, content)
    return buffer.getvalue()


def make_tar(entries: list[tarfile.TarInfo | tuple[str, bytes | None]], *, gzip: bool = False) -> bytes:
    """A tar of `entries`: (name, content) pairs (None makes a folder) or ready TarInfo headers (no data)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzip else "w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                archive.addfile(entry)
                continue
            name, content = entry
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            else:
                info.size = len(content)
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def tar_header(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


JOURNAL = "logs/amber-transfer.jsonl"


def files_under(root: Path) -> dict[str, bytes]:
    """Every file below `root` (relative POSIX path -> content), but intake's journal (see `journal_of`)."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() != JOURNAL
    }


def folders_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_dir())


def journal_of(folder: Path) -> list[dict[str, Any]]:
    """The records of a placed transfer's journal, in order."""
    with (folder / JOURNAL).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    """`data` as a request body sent in chunks of `size` bytes, without a Content-Length."""
    for start in range(0, len(data), size):
        yield data[start:start + size]
        await asyncio.sleep(0)


def some_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes that do not compress."""
    blocks = (hashlib.sha256(f"{seed}-{i}".encode()).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


def make_bag(payload: dict[str, bytes], *, prefix: str = "", oxum: bool = True) -> dict[str, bytes | None]:
    """A valid BagIt 1.0 bag of `payload` (paths under data/) as zip entries, optionally under `prefix`."""
    manifest = "".join(f"{hashlib.sha256(content).hexdigest()}  data/{path}\n" for path, content in payload.items())
    info = "Source-Organization: Amber tests\n"
    if oxum:
        info += f"Payload-Oxum: {sum(len(c) for c in payload.values())}.{len(payload)}\n"
    tags = {
        "bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": info.encode(),
        "manifest-sha256.txt": manifest.encode(),
    }
    tagmanifest = "".join(f"{hashlib.sha256(content).hexdigest()}  {name}\n" for name, content in tags.items())
    entries: dict[str, bytes | None] = {f"{prefix}{name}": content for name, content in tags.items()}
    entries[f"{prefix}tagmanifest-sha256.txt"] = tagmanifest.encode()
    entries.update({f"{prefix}data/{path}": content for path, content in payload.items()})
    return entries


def make_7z(folder: Path, archive: Path, *, absolute: bool = False) -> bytes:
    """A 7z archive of `folder` made by the 7z program (links stored as links); its bytes."""
    import subprocess

    command = ["7z", "a", "-snl", "-bd", str(archive)]
    if absolute:
        command += ["-spf", str(folder.resolve())]
    else:
        command += [folder.name]
    subprocess.run(command, cwd=folder.parent, check=True, capture_output=True)
    return archive.read_bytes()
