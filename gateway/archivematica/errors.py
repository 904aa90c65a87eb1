"""Archivematica's error shapes: what its clients parse, not RFC 9457.

The dashboard answers `{"error": true, "message": …}` (with extra keys on some routes); the Storage Service
answers a bad or missing key with 401 and an empty body. Everything here is raised as `ArchivematicaError` and
turned into a response by `error_response`, registered on the gateway app for this exception only, so the
gateway's own problem+json handling is untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from servicekit.http import ServiceError


class ArchivematicaError(Exception):
    """An answer in Archivematica's shape: `body` None means an empty body."""

    def __init__(
        self, status: int, body: dict[str, Any] | str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def dashboard_error(status: int, message: str, **extra: Any) -> ArchivematicaError:
    return ArchivematicaError(status, {**extra, "error": True, "message": message})


def not_supported(what: str) -> ArchivematicaError:
    """A feature Archivematica has and Amber does not: said plainly, never a fake success."""
    return dashboard_error(501, f"Amber does not support {what}.")


async def error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ArchivematicaError)
    if exc.body is None:
        return Response(status_code=exc.status, headers=exc.headers)
    if isinstance(exc.body, str):
        return Response(exc.body, status_code=exc.status, media_type="text/plain", headers=exc.headers)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)


def reason_of(exc: Exception) -> str:
    """What a service's refusal, a request that does not validate, or a plain error says, in one line."""
    if isinstance(exc, ServiceError):
        return exc.detail or exc.title
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)


def upstream_error(exc: ServiceError) -> ArchivematicaError:
    """A service's refusal keeps its status and reason; an unreachable or failing service is 502, never 500."""
    message = f"{exc.service}: {exc.detail or exc.title}"
    if exc.status is not None and 400 <= exc.status < 500:
        return dashboard_error(exc.status, message)
    return dashboard_error(502, f"Amber's {exc.service} service did not answer: {exc.detail or exc.title}")


class TranslatedRoute(APIRoute):
    """Routes whose handlers may let a client's ServiceError through: it is answered in Archivematica's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def translated(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as exc:
                raise upstream_error(exc) from exc

        return translated
