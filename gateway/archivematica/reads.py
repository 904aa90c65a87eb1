"""Reads through the typed clients that the dashboard and Storage Service surfaces share: a whole list, page by
page, and the unit a UUID from an Archivematica URL names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

from gateway.archivematica.ids import parse_uuid
from servicekit.http import ServiceError
from servicekit.pagination import Page

T = TypeVar("T")
PAGE = 1000


async def every_page(fetch: Callable[[int, int], Awaitable[Page[T]]]) -> list[T]:
    """Every item of a list; `fetch(limit, offset)` reads one page. Archivematica's lists are unpaged."""
    found: list[T] = []
    while True:
        page = await fetch(PAGE, len(found))
        found += page.items
        if not page.items or len(found) >= page.total:
            return found


async def unit_or_none(unit: str, get: Callable[[UUID], Awaitable[T]]) -> T | None:
    """What `unit` names, or None when it is no UUID or the service does not know it (404, or 422 for a UUID
    of the wrong kind)."""
    ident = parse_uuid(unit)
    if ident is None:
        return None
    try:
        return await get(ident)
    except ServiceError as exc:
        if exc.status in (404, 422):
            return None
        raise
