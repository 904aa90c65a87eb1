"""HTTP operations on PREMIS events."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query

from clients.metadata.schemas import BulkResult, EventRead, EventsBulk
from servicekit.auth import CallerDep
from servicekit.bulk import BulkRoute
from servicekit.deps import SessionDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.roles import Role, role_operation
from services.metadata.events import service

router = APIRouter(prefix="/premis/packages/{package_uuid}/events", tags=["premis"], route_class=BulkRoute)


@router.post("", response_model=BulkResult, openapi_extra=internal_operation())
async def add_premis_events(
    package_uuid: UUID, body: EventsBulk, session: SessionDep, _caller: CallerDep
) -> BulkResult:
    """Record up to 5000 events, by default about the package itself (e.g. compression). Idempotent."""
    return await service.add_package_events(session, package_uuid, body.events)


@router.get("", response_model=Page[EventRead], openapi_extra=role_operation(Role.reader))
async def list_premis_events(
    package_uuid: UUID,
    page: PageDep,
    session: SessionDep,
    _caller: CallerDep,
    object_uuid: UUID | None = Query(default=None, description="Only the events about this file (or the package)."),
    type: str | None = Query(default=None, max_length=100, description="Only events of this type."),
) -> Page[EventRead]:
    """The package's events in date order, with their agents."""
    return await service.list_events(session, package_uuid, object_uuid, page, type)
