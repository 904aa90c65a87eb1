"""A real upstream service and a gateway in front of it, served over real HTTP where streaming matters."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.keys.admin import ensure_admin
from gateway.main import create_app
from gateway.settings import GatewaySettings
from servicekit.app import create_service_app
from servicekit.auth import CallerDep
from servicekit.openapi import internal_operation
from servicekit.problems import NotFound
from servicekit.roles import Role, role_operation
from servicekit.settings import ServiceSettings
from tests.conftest import asgi_client, serve_http

INTERNAL_TOKEN = "internal-test-token"
READER = role_operation(Role.reader)
ARCHIVIST = role_operation(Role.archivist)
CHUNK = 64 * 1024


class Widget(BaseModel):
    id: int
    name: str


class Restock(BaseModel):
    count: int


class UploadDigest(BaseModel):
    sha256: str
    size: int
    content_length: str | None
    transfer_encoding: str | None


def pattern_chunks(size: int) -> Iterator[bytes]:
    """Deterministic, incompressible-looking content in CHUNK-sized pieces (a 1 MiB block, repeated)."""
    block = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(32768))
    sent = 0
    while sent < size:
        start = sent % len(block)
        piece = block[start:start + min(CHUNK, size - sent)]
        yield piece
        sent += len(piece)


def upstream_app(data_dir: Path, *, name: str = "widgets") -> FastAPI:
    """A small service built like Amber's own (servicekit app, internal token, problems), standing for any."""
    router = APIRouter(tags=[name])

    @router.get("/widgets", response_model=list[Widget], openapi_extra=READER)
    async def list_widgets(_caller: CallerDep) -> list[Widget]:
        return [Widget(id=1, name="one")]

    # Internal operations: one sharing its path with public ones (and declared first, so that the service's 405
    # names it), one alone on its path with a body schema of its own.
    @router.patch("/widgets/{widget_id}", response_model=Widget, openapi_extra=internal_operation())
    async def rename_widget(widget_id: int, body: Widget, _caller: CallerDep) -> Widget:
        return body

    @router.put("/widgets/{widget_id}/stock", response_model=Widget, openapi_extra=internal_operation())
    async def restock_widget(widget_id: int, body: Restock, _caller: CallerDep) -> Widget:
        return Widget(id=widget_id, name=f"{body.count} in stock")

    @router.get("/widgets/{widget_id}", response_model=Widget, openapi_extra=READER)
    async def get_widget(widget_id: int, _caller: CallerDep) -> Widget:
        if widget_id != 1:
            raise NotFound("Widget", widget_id)
        return Widget(id=1, name="one")

    @router.post("/widgets", status_code=201, response_model=Widget, openapi_extra=ARCHIVIST)
    async def create_widget(body: Widget, response: Response, _caller: CallerDep) -> Widget:
        response.headers["Location"] = f"/widgets/{body.id}"
        return body

    async def echo(request: Request, caller: str) -> dict[str, Any]:
        return {
            "method": request.method,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "caller": caller,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
            "body": (await request.body()).decode(),
        }

    @router.get("/echo/{rest:path}", openapi_extra=READER)
    async def echo_request(rest: str, request: Request, caller: CallerDep) -> dict[str, Any]:
        return await echo(request, caller)

    @router.patch("/echo/{rest:path}", openapi_extra=ARCHIVIST)
    async def echo_patch_request(rest: str, request: Request, caller: CallerDep) -> dict[str, Any]:
        return await echo(request, caller)

    @router.post("/uploads", response_model=UploadDigest, openapi_extra=ARCHIVIST)
    async def receive_upload(request: Request, _caller: CallerDep) -> UploadDigest:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return UploadDigest(
            sha256=digest.hexdigest(), size=size, content_length=request.headers.get("content-length"),
            transfer_encoding=request.headers.get("transfer-encoding"),
        )

    @router.get("/downloads/{size}", openapi_extra=READER)
    async def send_download(size: int, _caller: CallerDep) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for chunk in pattern_chunks(size):
                yield chunk

        return StreamingResponse(
            body(), media_type="application/octet-stream", headers={"Content-Length": str(size)}
        )

    settings = ServiceSettings(service_name=name, data_dir=data_dir, internal_token=INTERNAL_TOKEN)
    return create_service_app(
        settings=settings, title=f"{name} service", description=f"The {name} test service", version="0.1",
        routers=[router], migrations_dir=None,
    )


def dead_url() -> str:
    """A URL nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"




def gateway_settings(data_dir: Path, transfer_url: str, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "internal_token": INTERNAL_TOKEN,
        "transfer_url": transfer_url,
        "ingest_url": dead_url(),
        "metadata_url": dead_url(),
        "storage_url": dead_url(),
        "upstream_wait_seconds": 0,
        "refresh_interval_seconds": 0,
        **overrides,
    }
    return GatewaySettings(**values)


@dataclass
class Stack:
    settings: GatewaySettings
    engine: AsyncEngine | None
    upstream_url: str
    admin_key: str
    client: httpx.AsyncClient

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"ApiKey admin:{self.admin_key}"}


@asynccontextmanager
async def gateway_stack(
    tmp_path: Path, engine: AsyncEngine | None = None, *, real_http: bool = False
) -> AsyncIterator[Stack]:
    """The fake upstream as the transfer service, the gateway in front, and the bootstrapped admin's key.

    Over ASGI by default; `real_http` serves the gateway with uvicorn too (for streaming checks).
    """
    async with serve_http(upstream_app(tmp_path / "upstream")) as upstream_url:
        settings = gateway_settings(tmp_path / "gateway", upstream_url)
        created = await ensure_admin(settings, engine=engine)
        assert created is not None
        app = create_app(settings, engine=engine)
        if real_http:
            async with serve_http(app) as gateway_url, httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
                yield Stack(settings, engine, upstream_url, created[1], client)
        else:
            async with asgi_client(app, base_url="http://gateway") as client:
                yield Stack(settings, engine, upstream_url, created[1], client)
