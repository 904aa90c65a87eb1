"""The base of every typed service client: timeouts, retries, request-id and internal-token propagation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Self

import httpx
from opentelemetry.context import Context

from servicekit.logs import request_id_var
from servicekit.tracing import client_span, inject_context

REQUEST_ID_HEADER = "X-Request-ID"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})
log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A peer service answered with an error (its problem document is kept) or could not be reached."""

    def __init__(self, service: str, status: int | None, title: str, detail: str | None = None) -> None:
        super().__init__(f"{service}: {status or 'unreachable'} {title}" + (f": {detail}" if detail else ""))
        self.service = service
        self.status = status
        self.title = title
        self.detail = detail


class ServiceClient:
    """Typed clients subclass this and add one method per operation they use."""

    service = "service"

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
        )
        self._retries = retries

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying client (base URL and credentials set), for callers that need raw responses."""
        return self._http

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _headers(self, extra: Mapping[str, str] | None, trace_context: Context | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        request_id = request_id_var.get()
        if request_id and REQUEST_ID_HEADER not in headers:
            headers[REQUEST_ID_HEADER] = request_id
        inject_context(headers, trace_context)
        return headers

    async def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request; retry connection failures and 502-504 when the call is safe to repeat.

        POSTs that carry their own idempotency (client-chosen ids, upserts) pass `idempotent=True`.
        """
        may_retry = idempotent if idempotent is not None else method.upper() in IDEMPOTENT_METHODS
        attempts = self._retries + 1 if may_retry else 1
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                with client_span(self.service, method.upper()) as trace_context:
                    response = await self._http.request(method, url, headers=self._headers(headers, trace_context),
                                                        **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
                if attempt == attempts:
                    raise ServiceError(self.service, None, "unreachable", str(exc)) from exc
                log.warning("%s unreachable (%s), retry %d/%d", self.service, exc, attempt, attempts - 1)
            else:
                if response.status_code in RETRY_STATUSES and attempt < attempts:
                    log.warning("%s answered %d, retry %d/%d", self.service, response.status_code, attempt,
                                attempts - 1)
                else:
                    raise_for_problem(self.service, response)
                    return response
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> AsyncIterator[httpx.Response]:
        """A streamed exchange: neither body is held in memory. Not retried (the body may be consumed)."""
        try:
            with client_span(self.service, method.upper()) as trace_context:
                outgoing = self._headers(headers, trace_context)
                async with self._http.stream(method, url, headers=outgoing, **kwargs) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise_for_problem(self.service, response)
                    yield response
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServiceError(self.service, None, "unreachable", str(exc)) from exc


def raise_for_problem(service: str, response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    title, detail = response.reason_phrase, None
    try:
        body = response.json()
        title = body.get("title", title)
        detail = body.get("detail")
    except ValueError:
        detail = response.text[:500] or None
    raise ServiceError(service, response.status_code, title, detail)
