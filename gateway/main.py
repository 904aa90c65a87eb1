"""The gateway application: API keys, the merged OpenAPI document, and the proxy to the four services."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import dashboard
from gateway.archivematica import close_transport
from gateway.archivematica import install as install_archivematica
from gateway.events.bus import EventBus
from gateway.events.collector import EventCollector
from gateway.events.retention import Retention
from gateway.events.router import router as events_router
from gateway.keys.router import router as keys_router
from gateway.migrations import MIGRATIONS_DIR
from gateway.openapi.router import router as openapi_router
from gateway.openapi.service import PublicDocument
from gateway.proxy.registry import ServiceRegistry, first_segment
from gateway.proxy.router import health_router
from gateway.proxy.router import router as proxy_router
from gateway.proxy.service import create_http_client
from gateway.settings import API_PREFIX, GatewaySettings
from gateway.users.router import router as users_router
from gateway.webhooks.delivery import Dispatcher
from gateway.webhooks.metrics import WebhookMetrics
from gateway.webhooks.router import router as webhooks_router
from servicekit.app import create_service_app
from servicekit.background import stop_tasks

VERSION = "1.0.0"


def _own_segments(gateway_doc: dict[str, Any]) -> set[str]:
    """First segments under /api/v1 that the gateway answers itself; no service may claim them."""
    return {
        first_segment(path[len(API_PREFIX):]) for path in gateway_doc["paths"] if path.startswith(API_PREFIX + "/")
    }


def start_events(app: FastAPI, settings: GatewaySettings) -> None:
    """The event log's background work: collecting the services' outboxes, delivering webhooks, purging what the
    retention settings let go."""
    app.state.event_bus = EventBus()
    app.state.collector = EventCollector(app.state.sessions, settings, app.state.event_bus)
    metrics = WebhookMetrics(app.state.metrics) if getattr(app.state, "metrics", None) is not None else None
    app.state.dispatcher = Dispatcher(app.state.sessions, settings, app.state.event_bus, metrics)
    app.state.event_tasks = [
        asyncio.create_task(app.state.dispatcher.run_forever(), name="webhooks"),
        asyncio.create_task(Retention(app.state.sessions, settings).run_forever(), name="event-retention"),
    ]
    if settings.events_collect:
        app.state.event_tasks += app.state.collector.tasks()


async def stop_events(app: FastAPI) -> None:
    await stop_tasks(app.state.event_tasks)
    await app.state.collector.aclose()
    await app.state.dispatcher.aclose()


def create_app(settings: GatewaySettings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    async def on_startup(app: FastAPI) -> None:
        app.state.upstream_http = create_http_client(settings)
        gateway_doc = app.openapi()
        public = PublicDocument(gateway_doc, VERSION)
        app.state.public_document = public
        app.state.registry = ServiceRegistry(
            settings.service_urls(),
            app.state.upstream_http,
            reserved=_own_segments(gateway_doc),
            fetch_timeout=settings.openapi_fetch_timeout_seconds,
            refresh_interval=settings.refresh_interval_seconds,
            on_change=public.update,
        )
        await app.state.registry.load(settings.upstream_wait_seconds)
        start_events(app, settings)

    async def on_shutdown(app: FastAPI) -> None:
        await stop_events(app)
        await app.state.upstream_http.aclose()
        await close_transport(app.state)
        await dashboard.close_http_client(app)

    app = create_service_app(
        settings=settings,
        title="Amber gateway",
        description="API keys, users and the stack's health; the services' operations are proxied.",
        version=VERSION,
        # The catch-all proxy route comes last so the gateway's own operations match first.
        routers=[openapi_router, users_router, keys_router, events_router, webhooks_router, health_router,
                 proxy_router],
        migrations_dir=MIGRATIONS_DIR,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        engine=engine,
    )
    # The Archivematica-compatible routes live outside /api/v1, so the proxy's catch-all never sees them.
    install_archivematica(app, settings)
    # The archivists' pages under /dashboard, and /docs from vendored assets.
    dashboard.install(app)
    # FastAPI's built-in /openapi.json would describe the gateway alone; the merged document replaces it.
    app.router.routes[:] = [
        route for route in app.router.routes
        if isinstance(route, APIRoute) or getattr(route, "path", None) != app.openapi_url
    ]
    return app
