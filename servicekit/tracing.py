"""OpenTelemetry traces: a server span per request, the context carried on every call (W3C `traceparent`).

Tracing is on when an OTLP endpoint is configured (`AMBER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`), when
something else installed a global tracer provider first, or inside `tracer_provider(...)` (a test's in-memory
exporter). Otherwise the global provider stays the API's no-op one, the SDK is never imported, and no middleware
or interceptor is added.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NoOpTracerProvider,
    ProxyTracerProvider,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.metrics import OPERATION_KEY, operation_label

log = logging.getLogger(__name__)
TRACER = "amber"
SERVICE_ATTRIBUTE = "amber.service"
TRACES_PATH = "/v1/traces"

_provider: TracerProvider | None = None


def tracing_enabled() -> bool:
    return _provider is not None or not isinstance(trace.get_tracer_provider(),
                                                   ProxyTracerProvider | NoOpTracerProvider)


def tracer() -> Tracer:
    return (_provider or trace.get_tracer_provider()).get_tracer(TRACER)


@contextmanager
def tracer_provider(provider: TracerProvider) -> Iterator[None]:
    """Trace the apps, clients and workers made meanwhile with `provider` instead of the process's global one,
    which OpenTelemetry lets be set only once (several stacks in one process, each test its own exporter)."""
    global _provider
    previous, _provider = _provider, provider
    try:
        yield
    finally:
        _provider = previous


def configure_tracing(service: str, endpoint: str | None) -> None:
    """Export this process's spans to `endpoint` over OTLP/HTTP; a provider installed before is kept."""
    if not endpoint or tracing_enabled():
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    url = endpoint.rstrip("/")
    if not url.endswith(TRACES_PATH):
        url += TRACES_PATH
    provider = SdkTracerProvider(resource=Resource.create({"service.name": f"amber-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    trace.set_tracer_provider(provider)
    log.info("exporting traces to %s", url)


def inject_context(headers: MutableMapping[str, str], context: Context | None = None) -> None:
    """Add the `traceparent` (and `tracestate`) of `context`, or of the current span, to outgoing headers."""
    propagate.inject(headers, context=context)


@contextmanager
def client_span(peer: str, method: str) -> Iterator[Context | None]:
    """A span around one call to a peer service; yields the context to inject into the call's headers.

    The span is never made current, so it may end in another task than the one it began in (a streamed body
    relayed by the server's response task).
    """
    if not tracing_enabled():
        yield None
        return
    span = tracer().start_span(
        f"{method} {peer}", kind=SpanKind.CLIENT, attributes={"peer.service": peer, "http.request.method": method}
    )
    try:
        yield trace.set_span_in_context(span)
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        span.end()


class TracingMiddleware:
    """A server span per request, continuing the caller's trace; named by route template once routed."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.tracer = tracer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/healthz":
            await self.app(scope, receive, send)
            return
        carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
                   if key in (b"traceparent", b"tracestate")}
        method = scope["method"]
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            method, context=propagate.extract(carrier), kind=SpanKind.SERVER,
            attributes={SERVICE_ATTRIBUTE: self.service, "http.request.method": method},
        ) as span:
            try:
                await self.app(scope, receive, send_noting_status)
            finally:
                operation = operation_label(scope)
                template = getattr(scope.get("route"), "path", None)
                if isinstance(template, str):
                    span.set_attribute("http.route", template)
                # The gateway's catch-all route names the operation it forwards to instead.
                named = template if isinstance(template, str) and OPERATION_KEY not in scope else operation
                span.update_name(f"{method} {named}")
                span.set_attribute("amber.operation", operation)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
