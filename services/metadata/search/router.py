"""HTTP operations of search: asking for a package to be indexed, and searching."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request

from clients.metadata.schemas import IndexStatus, SearchHit
from servicekit.auth import CallerDep
from servicekit.db import unit_of_work
from servicekit.deps import SessionDep, SessionsDep
from servicekit.openapi import internal_operation
from servicekit.pagination import SQL_INT_MAX, Page, PageDep
from servicekit.roles import Role, role_operation
from services.metadata.search import service

router = APIRouter(prefix="/search", tags=["search"])


@router.post("/packages/{package_uuid}/index", response_model=IndexStatus, status_code=202,
             openapi_extra=internal_operation())
async def index_search_package(
    package_uuid: UUID, request: Request, sessions: SessionsDep, _caller: CallerDep
) -> IndexStatus:
    """Queue the package for (re)indexing; done in the background, in bulk. Safe to repeat."""
    async with unit_of_work(sessions) as session:  # committed before the indexer is woken
        status = await service.request_index(session, package_uuid)
    request.app.state.indexer.wake.set()
    return status


@router.delete("/packages/{package_uuid}/index", response_model=IndexStatus, openapi_extra=internal_operation())
async def remove_search_package(package_uuid: UUID, session: SessionDep, _caller: CallerDep) -> IndexStatus:
    """Take the package out of search: its AIP was deleted. Asking to index it again puts it back. Safe to repeat."""
    return await service.remove_from_index(session, package_uuid)


@router.get("/packages/{package_uuid}/index", response_model=IndexStatus, openapi_extra=role_operation(Role.reader))
async def read_search_index_status(package_uuid: UUID, session: SessionDep, _caller: CallerDep) -> IndexStatus:
    """Whether the package is indexed (or queued, or failed with the error)."""
    return await service.read_status(session, package_uuid)


@router.get("", response_model=Page[SearchHit], openapi_extra=role_operation(Role.reader))
async def search_packages_and_files(
    session: SessionDep,
    page: PageDep,
    _caller: CallerDep,
    q: str | None = Query(default=None, max_length=1000, description="Words, all required (name, path, PUID, "
                          "format, Dublin Core, event types)"),
    kind: Literal["package", "file"] | None = None,
    package_uuid: UUID | None = None,
    puid: str | None = Query(default=None, max_length=64),
    format_name: str | None = Query(default=None, max_length=255),
    min_size: int | None = Query(default=None, ge=0, le=SQL_INT_MAX),
    max_size: int | None = Query(default=None, ge=0, le=SQL_INT_MAX),
    date_from: dt.datetime | None = None,
    date_to: dt.datetime | None = None,
    sort: Literal["relevance", "name", "date", "size", "path"] = "relevance",
    order: Literal["asc", "desc"] = "asc",
) -> Page[SearchHit]:
    """Packages and files matching the words and filters, paginated and sorted."""
    for value in (date_from, date_to):
        if value is not None and value.tzinfo is None:
            from servicekit.problems import Problem

            raise Problem(422, "Invalid request", "Dates need a time zone (e.g. 2025-01-01T00:00:00Z)")
    filters = {"kind": kind, "package_uuid": package_uuid, "puid": puid, "format_name": format_name,
               "min_size": min_size, "max_size": max_size, "date_from": date_from, "date_to": date_to}
    return await service.search(session, q=q, filters=filters, sort=sort, descending=order == "desc", page=page)
