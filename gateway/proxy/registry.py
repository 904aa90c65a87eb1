"""Which service owns which path: learnt from the services' own OpenAPI documents."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

log = logging.getLogger(__name__)


class RoutingConflict(RuntimeError):
    """Two services (or a service and the gateway) claim the same first path segment; the stack is misbuilt."""


def first_segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def build_routing_table(docs: Mapping[str, Mapping[str, Any]], reserved: Iterable[str] = ()) -> dict[str, str]:
    """Map each first path segment to the one service whose document declares it.

    `reserved` segments belong to the gateway's own operations.
    """
    table = {segment: "gateway" for segment in reserved}
    for service, doc in docs.items():
        for path in doc.get("paths", {}):
            segment = first_segment(path)
            if not segment or segment.startswith("{"):
                raise RoutingConflict(f"{service} declares {path!r}, whose first segment cannot be routed")
            owner = table.setdefault(segment, service)
            if owner != service:
                raise RoutingConflict(f"/{segment} is claimed by both {owner} and {service}")
    return table


class ServiceRegistry:
    """The services' documents and the routing table derived from them.

    Loaded at start-up (retrying services that are not up yet) and re-loaded lazily when a path is unknown or a
    service is missing, at most once per `refresh_interval` so unknown paths cannot hammer the services.
    `on_change` sees every new set of documents before it is adopted; raising there rejects the set.
    """

    def __init__(
        self,
        urls: Mapping[str, str],
        http: httpx.AsyncClient,
        *,
        reserved: Iterable[str] = (),
        fetch_timeout: float = 10.0,
        refresh_interval: float = 5.0,
        on_change: Callable[[dict[str, dict[str, Any]]], object] | None = None,
    ) -> None:
        self.urls = dict(urls)
        self.reserved = frozenset(reserved)
        self.docs: dict[str, dict[str, Any]] = {}
        self.routes: dict[str, str] = {}
        self._http = http
        self._fetch_timeout = fetch_timeout
        self._refresh_interval = refresh_interval
        self._last_attempt = float("-inf")
        self._on_change = on_change
        self._lock = asyncio.Lock()

    @property
    def missing(self) -> list[str]:
        return [service for service in self.urls if service not in self.docs]

    def owner(self, segment: str) -> str | None:
        service = self.routes.get(segment)
        return None if service == "gateway" else service

    async def load(self, wait_seconds: float) -> None:
        """Fetch every document, retrying for up to `wait_seconds` while some service does not answer.

        Services still missing afterwards are logged and picked up later; conflicts raise RoutingConflict.
        """
        deadline = time.monotonic() + wait_seconds
        delay = 0.25
        async with self._lock:
            while True:
                await self._fetch_missing()
                if not self.missing or time.monotonic() + delay > deadline:
                    break
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        if self.missing:
            log.warning("services not reachable yet, routed once they answer: %s", ", ".join(self.missing))

    async def refresh(self) -> bool:
        """Re-fetch every document (rate-limited); True when a refresh was actually attempted."""
        async with self._lock:
            if time.monotonic() - self._last_attempt < self._refresh_interval:
                return False
            await self._fetch(list(self.urls))
            return True

    async def _fetch_missing(self) -> None:
        await self._fetch(self.missing)

    async def _fetch(self, services: list[str]) -> None:
        """Fetch `services`' documents; a service that does not answer keeps the document it had."""
        self._last_attempt = time.monotonic()
        results = await asyncio.gather(*(self._fetch_one(service) for service in services))
        docs = dict(self.docs)
        for service, doc in zip(services, results, strict=True):
            if doc is not None:
                docs[service] = doc
        ordered = {service: docs[service] for service in self.urls if service in docs}
        routes = build_routing_table(ordered, self.reserved)
        if ordered != self.docs:
            if self._on_change is not None:
                self._on_change(ordered)
            self.docs, self.routes = ordered, routes

    async def _fetch_one(self, service: str) -> dict[str, Any] | None:
        url = f"{self.urls[service]}/openapi.json"
        try:
            response = await self._http.get(url, timeout=self._fetch_timeout)
            response.raise_for_status()
            doc = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("cannot fetch %s: %s", url, exc)
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
            log.warning("%s is not an OpenAPI document", url)
            return None
        return doc
