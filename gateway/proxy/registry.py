"""Which service owns which path: learnt from the services' own OpenAPI documents."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from gateway.openapi.merge import HTTP_METHODS
from servicekit.openapi import is_internal
from servicekit.roles import DEFAULT_ROLE, Role, required_role

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


def template_pattern(template: str) -> re.Pattern[str]:
    """A path template as a regex: each `{param}` is one non-empty segment, as Starlette's default converter.

    A trailing slash is tolerated too: the service would answer it with a redirect, revealing the operation.
    """
    parts = re.split(r"(\{[^/{}]*\})", template.rstrip("/"))
    regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(f"{regex}/?")


def deep_pattern(template: str) -> re.Pattern[str] | None:
    """For a template ending in a `{param}`: a regex letting that parameter span several segments, or None.

    OpenAPI writes a Starlette `{param:path}` as `{param}`, so a document cannot tell which trailing parameters
    take a path (e.g. `/aips/{aip_uuid}/files/{path}`); for roles every such template is assumed to.
    """
    parts = re.split(r"(\{[^/{}]*\})", template.rstrip("/"))
    if len(parts) < 2 or parts[-1] != "" or not parts[-2].startswith("{"):
        return None
    regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts[:-2])
    return re.compile(f"{regex}[^/]+(?:/[^/]*)*")


@dataclass(frozen=True)
class _Template:
    pattern: re.Pattern[str]
    deep: re.Pattern[str] | None
    internal: frozenset[str]
    public: frozenset[str]
    roles: Mapping[str, Role]
    ids: Mapping[str, str]


class Operations:
    """The services' operations, matched against request paths: which are internal, and which role each needs.

    Paths are service-relative. A path matching several templates gets the cautious answer, since which one the
    service picks depends on its route order: refused if any of them holds the method as internal, and the most
    demanding of their roles. A (method, path) that no template has needs DEFAULT_ROLE (admin); the service would
    answer 404 or 405 anyway, so only administrators learn that.
    """

    def __init__(self, docs: Mapping[str, Mapping[str, Any]]) -> None:
        self._templates: list[_Template] = []
        for doc in docs.values():
            for template, item in doc.get("paths", {}).items():
                operations = {
                    method.upper(): item[method] for method in HTTP_METHODS if isinstance(item.get(method), dict)
                }
                internal = frozenset(method for method, operation in operations.items() if is_internal(operation))
                # Internal operations are refused before any role is asked for, so only public ones declare roles.
                roles = {
                    method: required_role(operation) for method, operation in operations.items()
                    if method not in internal
                }
                ids = {method: str(operation["operationId"]) for method, operation in operations.items()
                       if operation.get("operationId")}
                self._templates.append(_Template(
                    template_pattern(template), deep_pattern(template), internal, frozenset(operations) - internal,
                    roles, ids,
                ))

    @staticmethod
    def _candidates(path: str) -> set[str]:
        """`path` as sent (escapes kept) and as the service decodes it before routing."""
        return {re.sub("/{2,}", "/", candidate) for candidate in (path, unquote(path))}

    def _matching(self, path: str) -> list[_Template]:
        candidates = self._candidates(path)
        return [t for t in self._templates if t.internal and any(t.pattern.fullmatch(c) for c in candidates)]

    def hides(self, method: str, path: str) -> bool:
        """Whether `method` on the service-relative `path` (percent-escapes included) is an internal operation."""
        methods = {method.upper(), "GET"} if method.upper() == "HEAD" else {method.upper()}
        return any(template.internal & methods for template in self._matching(path))

    def required_role(self, method: str, path: str) -> Role:
        """The role `method` on the service-relative `path` needs: the most demanding of the matching templates'.

        HEAD is answered by GET routes, so it needs what GET needs.
        """
        wanted = "GET" if method.upper() == "HEAD" else method.upper()
        candidates = self._candidates(path)
        needed = [
            template.roles[wanted] for template in self._templates
            if wanted in template.roles and any(
                template.pattern.fullmatch(c) or (template.deep is not None and template.deep.fullmatch(c))
                for c in candidates
            )
        ]
        return max(needed, key=lambda role: role.rank) if needed else DEFAULT_ROLE

    def operation_id(self, method: str, path: str) -> str | None:
        """The id of the operation `method` on the service-relative `path` reaches (the first that matches), for
        metrics and traces: a bounded name where the path holds ids."""
        wanted = "GET" if method.upper() == "HEAD" else method.upper()
        candidates = self._candidates(path)
        for template in self._templates:
            if wanted in template.ids and any(template.pattern.fullmatch(c) for c in candidates):
                return template.ids[wanted]
        return None

    def allowed_methods(self, allow: str, path: str) -> str | None:
        """A service's 405 `Allow` for `path` with the internal methods taken out (or as it was if none match).

        Left empty, it names the path's public methods instead, since a 405 must list some (RFC 9110 §15.5.6);
        None when the path has only internal operations, so that it must look absent.
        """
        templates = self._matching(path)
        if not templates:
            return allow
        internal = {method for template in templates for method in template.internal}
        listed = (method.strip() for method in allow.split(","))
        kept = [method for method in listed if method and method.upper() not in internal]
        public = sorted({method for template in templates for method in template.public})
        return ", ".join(kept or public) or None


class ServiceRegistry:
    """The services' documents and what is derived from them: the routing table and the operations.

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
        self.operations = Operations({})
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
            operations = Operations(ordered)
            if self._on_change is not None:
                self._on_change(ordered)
            self.docs, self.routes, self.operations = ordered, routes, operations

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
