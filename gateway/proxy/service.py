"""Forwarding one request to its service: headers rewritten, both bodies streamed, nothing buffered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import Request
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from gateway.schemas import ServiceHealth, ServiceStatus, StackHealth, StackStatus
from gateway.settings import API_PREFIX, GatewaySettings
from servicekit.auth import INTERNAL_USER_HEADER
from servicekit.http import REQUEST_ID_HEADER
from servicekit.logs import request_id_var
from servicekit.problems import Problem

log = logging.getLogger(__name__)

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
     "transfer-encoding", "upgrade"}
)
# Set by the gateway itself: the caller's credentials stay here, identity and request id are asserted anew.
REPLACED_REQUEST_HEADERS = frozenset(
    {"host", "authorization", "expect", INTERNAL_USER_HEADER.lower(), REQUEST_ID_HEADER.lower()}
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


def upstream_headers(request: Request, username: str, internal_token: str | None) -> list[tuple[bytes, bytes]]:
    raw = request.headers.raw
    dropped = HOP_BY_HOP | REPLACED_REQUEST_HEADERS | _connection_tokens(raw)
    headers = [(k, v) for k, v in raw if k.decode("latin-1").lower() not in dropped]
    if internal_token:
        headers.append((b"authorization", f"Bearer {internal_token}".encode("latin-1")))
    headers.append((INTERNAL_USER_HEADER.lower().encode(), username.encode("latin-1")))
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
    return headers


def upstream_url(service_url: str, request: Request) -> httpx.URL:
    """The service URL for the request, path kept byte for byte (percent-escapes included) minus the prefix."""
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    prefix = API_PREFIX.encode()
    remainder = raw_path[len(prefix):] if raw_path.startswith(prefix + b"/") else raw_path
    url = httpx.URL(service_url + remainder.decode("latin-1"))
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
    internal_token: str | None,
) -> StreamingResponse:
    outgoing = http.build_request(
        request.method,
        upstream_url(service_url, request),
        headers=upstream_headers(request, username, internal_token),
        content=_request_body(request) if _has_body(request) else None,
    )
    try:
        upstream = await http.send(outgoing, stream=True)
    except ClientDisconnect:
        log.info("client went away while sending %s %s", request.method, request.url.path)
        raise Problem(400, "Bad request", "The request body was not received completely") from None
    except httpx.TransportError as exc:
        log.warning("%s unreachable for %s %s: %r", service, request.method, request.url.path, exc)
        raise Problem(502, "Bad gateway", f"The {service} service could not be reached") from exc

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
