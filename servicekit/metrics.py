"""Prometheus metrics: one registry per application, HTTP metrics by operation, `/metrics` on the internal side.

Each application (a service, the gateway, a worker) owns a `Metrics` with its own registry, so several of them
in one process (the tests run the whole stack in one) keep their figures apart. Labels are bounded: an operation
id or a route template, never a raw path; a method; a status code.

Several processes of one service (uvicorn `--workers`, gunicorn) share their figures through prometheus_client's
multiprocess mode: set `PROMETHEUS_MULTIPROC_DIR` to an empty folder of that service's own (one per service)
before the processes start; any of them then answers `/metrics` for all. Gauges read from the database at scrape
time use the `mostrecent` mode, so whichever process was scraped last is right for all.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.auth import bearer_token, unauthorized

log = logging.getLogger(__name__)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Request latencies from a health check to a multi-GB streamed download.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
OPERATION_KEY = "amber.operation"
UNMATCHED = "unmatched"

Refresher = Callable[[], Awaitable[None]]


class Metrics:
    """The registry of one application, and what must be read afresh (from a database) before each scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._refreshers: list[Refresher] = []

    def on_scrape(self, refresher: Refresher) -> None:
        self._refreshers.append(refresher)

    async def scrape(self) -> bytes:
        for refresher in self._refreshers:
            try:
                await refresher()
            except Exception:
                # The scrape still answers: stale gauges beat no HTTP or worker figures at all.
                log.exception("metrics refresh failed")
        return self.render()

    def render(self) -> bytes:
        folder = os.environ.get(MULTIPROCESS_ENV)
        if not folder:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=folder)
        return generate_latest(merged)


class HttpMetrics:
    """Requests, latencies and requests in flight of one application."""

    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.requests = Counter("amber_http_requests", "HTTP requests answered, by operation and status.",
                                ["operation", "method", "status"], registry=registry)
        self.duration = Histogram("amber_http_request_duration_seconds",
                                  "Time from a request's arrival to the end of its response.",
                                  ["operation", "method", "status"], buckets=HTTP_BUCKETS, registry=registry)
        self.in_progress = Gauge("amber_http_requests_in_progress", "HTTP requests being answered.",
                                 registry=registry, multiprocess_mode="livesum")


def operation_label(scope: Scope) -> str:
    """The operation id of the route that answered (or the one a handler named), else its path template; a path
    that no route has is `unmatched`, never itself."""
    named = scope.get(OPERATION_KEY)
    if isinstance(named, str):
        return named
    route = scope.get("route")
    if isinstance(route, APIRoute):
        return route.name
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    # FastAPI notes only its own routes in the scope; Starlette's (the OpenAPI document, the docs) have fixed paths.
    path = scope.get("path")
    return path if path in _static_paths(scope.get("app")) else UNMATCHED


def _static_paths(app: object) -> frozenset[str]:
    routes = getattr(app, "routes", ())
    return frozenset(route.path for route in routes
                     if not isinstance(route, APIRoute) and "{" not in getattr(route, "path", "{"))


def name_operation(request: Request, operation: str) -> None:
    """Label this request with `operation` (the proxy names the service operation it forwards to)."""
    request.scope[OPERATION_KEY] = operation


class HttpMetricsMiddleware:
    """Pure ASGI, so streamed bodies pass untouched; a streamed response is timed to its last byte."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the application raises before starting a response

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.metrics.in_progress.dec()
            labels = (operation_label(scope), scope["method"], str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.duration.labels(*labels).observe(time.perf_counter() - started)


def scrape_token(request: Request) -> None:
    """`/metrics` is for the operator's scraper: with a metrics token (or else the internal token) configured,
    only a caller presenting it is answered."""
    expected: str | None = request.app.state.metrics_token
    if expected:
        presented = bearer_token(request)
        if presented is None or not hmac.compare_digest(presented, expected):
            raise unauthorized("The metrics token is required")


def app_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(app_metrics)]


router = APIRouter()


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(scrape_token)])
async def get_metrics(metrics: MetricsDep) -> Response:
    return Response(await metrics.scrape(), media_type=CONTENT_TYPE_LATEST)
