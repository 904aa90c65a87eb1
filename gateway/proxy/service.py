"""Forwarding one request to its service: headers rewritten, both bodies streamed, nothing buffered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import unquote

import httpx
from fastapi import Request, Response
from opentelemetry.context import Context
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from gateway.proxy.registry import Operations
from gateway.schemas import ServiceHealth, ServiceStatus, StackHealth, StackStatus
from gateway.settings import API_PREFIX, GatewaySettings
from servicekit.auth import INTERNAL_ROLE_HEADER, INTERNAL_USER_HEADER
from servicekit.http import REQUEST_ID_HEADER
from servicekit.logs import request_id_var
from servicekit.problems import Problem, problem_response
from servicekit.roles import Role
from servicekit.tracing import client_span, inject_context

log = logging.getLogger(__name__)

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
     "transfer-encoding", "upgrade"}
)
# Set by the gateway itself: the caller's credentials stay here, identity and request id are asserted anew.
REPLACED_REQUEST_HEADERS = frozenset(
    {"host", "authorization", "expect", INTERNAL_USER_HEADER.lower(), INTERNAL_ROLE_HEADER.lower(),
     REQUEST_ID_HEADER.lower(), "traceparent", "tracestate"}
)
# The gateway's RequestIdMiddleware adds the id to every response; the service's copy would duplicate it.
REPLACED_RESPONSE_HEADERS = frozenset({REQUEST_ID_HEADER.lower()})


def create_http_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """The client for upstream calls. Reads and writes have no timeout: a multi-GB body may take hours."""
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(connect=settings.connect_timeout_seconds, read=None, write=None, pool=30.0),
        limits=httpx.Limits(max_connections=settings.max_upstream_connections, max_keepalive_connections=50),
        follow_redirects=False,
        # Internal traffic never goes through an HTTP proxy configured for the outside world.
        trust_env=False,
    )
    # httpx would otherwise add its own Accept/Accept-Encoding, changing what the service sends back.
    for name in ("accept", "accept-encoding", "user-agent"):
        del client.headers[name]
    return client


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> set[str]:
    """Headers the sender listed in `Connection`, hop-by-hop too (RFC 9110 §7.6.1)."""
    values = [value.decode("latin-1") for key, value in headers if key.lower() == b"connection"]
    return {token.strip().lower() for value in values for token in value.split(",") if token.strip()}


def upstream_headers(
    request: Request, username: str, role: Role, internal_token: str | None, trace_context: Context | None = None
) -> list[tuple[bytes, bytes]]:
    raw = request.headers.raw
    dropped = HOP_BY_HOP | REPLACED_REQUEST_HEADERS | _connection_tokens(raw)
    headers = [(k, v) for k, v in raw if k.decode("latin-1").lower() not in dropped]
    if internal_token:
        headers.append((b"authorization", f"Bearer {internal_token}".encode("latin-1")))
    headers.append((INTERNAL_USER_HEADER.lower().encode(), username.encode("latin-1")))
    headers.append((INTERNAL_ROLE_HEADER.lower().encode(), role.value.encode()))
    request_id = request_id_var.get()
    if request_id:
        headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode("latin-1")))
    if request.client:
        forwarded_for = request.headers.get("x-forwarded-for")
        chain = f"{forwarded_for}, {request.client.host}" if forwarded_for else request.client.host
        headers = [(k, v) for k, v in headers if k.lower() != b"x-forwarded-for"]
        headers.append((b"x-forwarded-for", chain.encode("latin-1")))
    headers.append((b"x-forwarded-proto", request.url.scheme.encode("latin-1")))
    headers.append((b"x-forwarded-prefix", API_PREFIX.encode()))
    # The gateway's own span (which continued any caller's trace) is the service's parent.
    propagated: dict[str, str] = {}
    inject_context(propagated, trace_context)
    headers.extend((key.encode("latin-1"), value.encode("latin-1")) for key, value in propagated.items())
    return headers


def forwarded_path(request: Request) -> str:
    """The path the service receives: the request's minus the prefix, percent-escapes kept byte for byte.

    Dot segments are resolved here, as httpx would resolve them on sending, so that what is checked against the
    internal operations is exactly what the service routes.
    """
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    prefix = API_PREFIX.encode()
    remainder = raw_path[len(prefix):] if raw_path.startswith(prefix + b"/") else raw_path
    return httpx.URL("http://upstream" + remainder.decode("latin-1")).raw_path.decode("latin-1")


def upstream_url(service_url: str, request: Request) -> httpx.URL:
    """The service URL for the request (`forwarded_path` and the query string as they came)."""
    url = httpx.URL(service_url + forwarded_path(request))
    query: bytes = request.scope.get("query_string", b"")
    return url.copy_with(query=query) if query else url


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length.strip() != "0") or "transfer-encoding" in request.headers


async def _request_body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


def _response_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    raw = response.headers.raw
    dropped = HOP_BY_HOP | REPLACED_RESPONSE_HEADERS | _connection_tokens(raw)
    headers = []
    for key, value in raw:
        name = key.decode("latin-1").lower()
        if name in dropped:
            continue
        if name == "location" and value.startswith(b"/") and not value.startswith(b"//"):
            # The service answers with its own paths; the caller only knows them under the public prefix.
            value = API_PREFIX.encode() + value
        headers.append((key.lower(), value))
    return headers


async def forward(
    request: Request,
    *,
    service: str,
    service_url: str,
    http: httpx.AsyncClient,
    username: str,
    role: Role,
    internal_token: str | None,
) -> StreamingResponse:
    with client_span(service, request.method) as trace_context:
        outgoing = http.build_request(
            request.method,
            upstream_url(service_url, request),
            headers=upstream_headers(request, username, role, internal_token, trace_context),
            content=_request_body(request) if _has_body(request) else None,
        )
        upstream = await _send(http, outgoing, request, service)

    async def relay() -> AsyncIterator[bytes]:
        # Raw bytes: a compressed body stays compressed, matching the Content-Encoding and Content-Length sent on.
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.TransportError as exc:
            log.warning("%s broke off its response to %s %s: %r", service, request.method, request.url.path, exc)
            raise
        finally:
            await upstream.aclose()

    # The background close covers bodies never iterated (HEAD, client gone before the first byte).
    response = StreamingResponse(relay(), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose))
    response.raw_headers = _response_headers(upstream)
    return response


async def _send(http: httpx.AsyncClient, outgoing: httpx.Request, request: Request, service: str) -> httpx.Response:
    try:
        return await http.send(outgoing, stream=True)
    except ClientDisconnect:
        log.info("client went away while sending %s %s", request.method, request.url.path)
        raise Problem(400, "Bad request", "The request body was not received completely") from None
    except httpx.TransportError as exc:
        log.warning("%s unreachable for %s %s: %r", service, request.method, request.url.path, exc)
        raise Problem(502, "Bad gateway", f"The {service} service could not be reached") from exc


def not_found(path: str) -> Response:
    """What a service answers for a path it does not have (`path` as forwarded), so a refusal looks the same."""
    return problem_response(404, "Not found", "Not Found", instance=unquote(path))


async def hide_internal_methods(response: StreamingResponse, internal: Operations, path: str) -> Response:
    """A service's 405 without the internal methods its `Allow` would name, or a 404 if it names nothing else."""
    listed = response.headers.get("allow", "")
    allow = internal.allowed_methods(listed, path)
    if allow is None:
        if response.background is not None:
            await response.background()  # closes the service's response, whose body is not sent on
        return not_found(path)
    if allow != listed:
        response.raw_headers = [(key, value) for key, value in response.raw_headers if key != b"allow"]
        response.raw_headers.append((b"allow", allow.encode("latin-1")))
    return response


async def check_health(http: httpx.AsyncClient, urls: dict[str, str], timeout_seconds: float) -> StackHealth:
    async def one(url: str) -> ServiceHealth:
        try:
            response = await http.get(f"{url}/healthz", timeout=timeout_seconds)
        except httpx.HTTPError as exc:
            return ServiceHealth(status=ServiceStatus.unreachable, detail=type(exc).__name__)
        if response.status_code != 200:
            return ServiceHealth(status=ServiceStatus.error, detail=f"HTTP {response.status_code}")
        return ServiceHealth(status=ServiceStatus.ok)

    results = await asyncio.gather(*(one(url) for url in urls.values()))
    services = dict(zip(urls, results, strict=True))
    healthy = all(health.status is ServiceStatus.ok for health in services.values())
    return StackHealth(status=StackStatus.ok if healthy else StackStatus.degraded, services=services)
