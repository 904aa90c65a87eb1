"""An Archivematica-compatible API at the gateway edge: the dashboard API and the Storage Service API v2, so
amclient, automation-tools and repository connectors work against Amber unchanged.

An adapter only: it authenticates in Archivematica's styles on Amber's keys and roles, translates requests and
answers, and calls Amber's services through their typed clients. Its own state is what Archivematica has and
Amber's services do not (hidden SIPs, idempotency keys). `docs/archivematica-api.md` lists every route.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.archivematica import transfers  # noqa: F401  (registers its routes on the dashboard's routers)
from gateway.archivematica.dashboard import router as dashboard_router
from gateway.archivematica.dashboard import unanchored_router
from gateway.archivematica.errors import ArchivematicaError, error_response
from gateway.archivematica.ids import pipeline_uuid
from gateway.archivematica.storage import router as storage_router
from gateway.archivematica.upstream import close_transport
from gateway.settings import API_PREFIX, GatewaySettings

# The version this API answers as: 1.19 is the first with `Idempotency-Key` on v2beta/package, which it honours.
ARCHIVEMATICA_VERSION = "1.19.0"
# archivematicaPhp's dashboard calls under /api/v2/ (see dashboard.unanchored_router).
DASHBOARD_UNDER_V2 = ("/api/v2/transfer/", "/api/v2/ingest/", "/api/v2/processing-configuration")
ROUTERS = [dashboard_router, unanchored_router, storage_router]


class VersionHeaders:
    """`X-Archivematica-Version` and `X-Archivematica-ID` on every dashboard answer, errors included (Enduro reads
    them from the 501 of its probe). Pure ASGI so downloads stream untouched."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.headers = [
            (b"x-archivematica-version", ARCHIVEMATICA_VERSION.encode()),
            (b"x-archivematica-id", str(pipeline_uuid(settings)).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        storage = path.startswith("/api/v2/") and not path.startswith(DASHBOARD_UNDER_V2)
        if not path.startswith("/api/") or path.startswith(API_PREFIX + "/") or storage:
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI, settings: GatewaySettings) -> None:
    """Add the routes (before the catch-all proxy, which only takes /api/v1), their error shapes and headers."""
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(ArchivematicaError, error_response)
    app.add_middleware(VersionHeaders, settings=settings)


__all__ = ["ARCHIVEMATICA_VERSION", "ROUTERS", "close_transport", "install"]
