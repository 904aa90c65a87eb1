"""The FastAPI application every service is built on."""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import migrations
from servicekit.db import create_engine, session_factory
from servicekit.http import REQUEST_ID_HEADER
from servicekit.logs import configure_logging, request_id_var
from servicekit.metrics import HttpMetrics, HttpMetricsMiddleware, Metrics
from servicekit.metrics import router as metrics_router
from servicekit.problems import PROBLEM_RESPONSES, document_problems, install_problem_handlers
from servicekit.settings import ServiceSettings
from servicekit.tracing import TracingMiddleware, configure_tracing, tracing_enabled

log = logging.getLogger("amber.http")

def operation_id(route: APIRoute) -> str:
    """Operation ids are the handler names: stable, unique across the stack, readable in generated SDKs."""
    return route.name

class RequestIdMiddleware:
    """Adopts the caller's X-Request-ID (or makes one), exposes it to logs and echoes it back.

    Pure ASGI rather than BaseHTTPMiddleware so streamed bodies pass through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode())
        request_id = incoming.decode("latin-1") if incoming else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope.get("path") != "/healthz":
                log.info(
                    "%s %s %d %.1fms", scope["method"], scope["path"], status,
                    (time.perf_counter() - started) * 1000,
                )
            request_id_var.reset(token)

Hook = Callable[[FastAPI], Awaitable[None]]
# FastAPI releases that trace natively do so as soon as a tracer provider exists, with spans for every dependency
# and serialization: off, since servicekit's middleware traces each request once (named by its operation).
NATIVE_TELEMETRY_OFF: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {}
)

def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    version: str,
    routers: Sequence[APIRouter],
    migrations_dir: Path | None,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    engine: AsyncEngine | None = None,
) -> FastAPI:
    """Build a service: settings on `app.state`, database migrated, problem+json errors, request ids, metrics
    (`app.state.metrics`, served at `/metrics`) and, when tracing is on, a span per request."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "running", False):
            # A second start would put its engine, sessions and background tasks on `app.state` in place of the
            # first one's, and the first one's tasks (the search indexer, the notifiers) would outlive both stops.
            raise RuntimeError(f"{title}: the app is already running; it cannot be started a second time")
        app.state.running = True
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            app.state.engine = engine or create_engine(settings.effective_database_url)
            if migrations_dir is not None:
                await migrations.upgrade(app.state.engine, migrations_dir)
            app.state.sessions = session_factory(app.state.engine)
            app.state.internal_token = settings.resolved_internal_token()
            app.state.metrics_token = settings.resolved_metrics_token()
            if on_startup:
                await on_startup(app)
            try:
                yield
            finally:
                if on_shutdown:
                    await on_shutdown(app)
                if engine is None:
                    await app.state.engine.dispose()
        finally:
            app.state.running = False

    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name, settings.otlp_endpoint)
    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        responses=PROBLEM_RESPONSES,
        **NATIVE_TELEMETRY_OFF,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_problem_handlers(app)
    document_problems(app)
    app.add_middleware(RequestIdMiddleware)
    if settings.metrics_enabled:
        app.add_middleware(HttpMetricsMiddleware, metrics=HttpMetrics(app.state.metrics))
    if tracing_enabled():
        # Outermost, so the request-id middleware's log line carries the trace id.
        app.add_middleware(TracingMiddleware, service=settings.service_name)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "service": settings.service_name}

    if settings.metrics_enabled:
        app.include_router(metrics_router)
    for router in routers:
        app.include_router(router)
    return app

LifespanFactory = Callable[[FastAPI], AbstractAsyncContextManager[None]]
