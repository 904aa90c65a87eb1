"""The typed StorageClient: retried uploads, and streaming over real HTTP (uvicorn) both ways."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send

from clients.storage import PackageStatus, StorageClient
from services.storage.main import create_app
from tests.conftest import serve_http
from tests.storage.harness import TOKEN, files_under, running_storage, settings_for, write_random_file


class DropsFirstUpload(httpx.AsyncBaseTransport):
    """Loses the connection half-way through the first PUT's body, as a flaky network would."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.puts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self.puts += 1
            if self.puts == 1:
                sent = 0
                assert isinstance(request.stream, httpx.AsyncByteStream)
                async for chunk in request.stream:
                    sent += len(chunk)
                    if sent >= 1024 * 1024:
                        raise httpx.WriteError("connection reset by peer")
        return await self.inner.handle_async_request(request)


async def test_store_aip_retries_a_dropped_upload_from_the_start(db_engine: AsyncEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    source = tmp_path / "flaky.7z"
    sha256 = write_random_file(source, 3 * 1024 * 1024 + 17)
    transports: list[DropsFirstUpload] = []

    def flaky(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        transports.append(DropsFirstUpload(inner))
        return transports[0]

    async with running_storage(settings, db_engine, wrap_transport=flaky) as storage:
        aip_uuid = uuid.uuid4()
        package = await storage.client.store_aip(aip_uuid, "flaky", sha256, source)
        assert transports[0].puts == 2
        assert (package.status, package.size, package.sha256) == (PackageStatus.stored, source.stat().st_size, sha256)
        assert len(files_under(storage.aip_dir)) == 1


class RecordsUploads:
    """Wraps the app to note the framing of each PUT the server receives."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "PUT":
            self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)  # type: ignore[operator]


async def test_streams_over_real_http(db_engine: AsyncEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    app = create_app(settings, engine=db_engine)
    recorder = RecordsUploads(app)
    source = tmp_path / "big.7z"
    size = 9 * 1024 * 1024 + 5
    sha256 = write_random_file(source, size)
    aip_uuid = uuid.uuid4()
    async with serve_http(recorder) as url, StorageClient(url, token=TOKEN) as client:  # type: ignore[arg-type]
        package = await client.store_aip(aip_uuid, "big", sha256, source)
        assert package.size == size
        assert recorder.headers[-1]["content-length"] == str(size)
        assert "transfer-encoding" not in recorder.headers[-1]
        dest = tmp_path / "back.7z"
        assert await client.download_aip(aip_uuid, dest) == size
        assert dest.read_bytes() == source.read_bytes()


async def test_peer_vanishing_mid_upload_over_real_http_leaves_nothing(db_engine: AsyncEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    app = create_app(settings, engine=db_engine)
    incoming = settings.aip_store_dir / ".incoming"
    aip_uuid = uuid.uuid4()
    async with serve_http(app) as url:
        port = int(url.rsplit(":", 1)[1])
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"PUT /aips/{aip_uuid}?name=gone&sha256={'b' * 64} HTTP/1.1\r\nHost: storage\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n".encode()
        )
        writer.write(b"z" * (2 * 1024 * 1024))
        await writer.drain()
        deadline = time.monotonic() + 10
        # Hang up only once the server is visibly receiving, so the test sees the clean-up, not a race.
        while not (incoming.exists() and any(incoming.iterdir())):
            assert time.monotonic() < deadline, "the upload never started"
            await asyncio.sleep(0.02)
        writer.close()
        await writer.wait_closed()
        while any(incoming.iterdir()):
            assert time.monotonic() < deadline, "the partial upload was left behind"
            await asyncio.sleep(0.02)
        async with StorageClient(url, token=TOKEN) as client:
            assert (await client.list_aips()).total == 0
    assert files_under(settings.aip_store_dir) == []
