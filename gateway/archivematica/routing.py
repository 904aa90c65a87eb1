"""Route registration for Archivematica's paths: both trailing-slash forms served directly (no redirects), each
route carrying the role it needs where it is declared, none of them in /openapi.json (see
docs/archivematica-api.md for why)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter

from servicekit.roles import Role, role_operation

F = TypeVar("F", bound=Callable[..., Any])


def route(
    router: APIRouter, path: str, methods: Sequence[str], role: Role, *, also: APIRouter | None = None,
    **kwargs: Any,
) -> Callable[[F], F]:
    """Register `path` and `path/` for the handler (`path` is written without the trailing slash), on `router`
    and on `also` when given."""

    def register(handler: F) -> F:
        for target in (router, also) if also is not None else (router,):
            for each in (path, path + "/"):
                target.add_api_route(
                    each, handler, methods=list(methods), include_in_schema=False,
                    openapi_extra=role_operation(role), **kwargs,
                )
        return handler

    return register
