"""HTTP operations on PREMIS file objects."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query

from clients.metadata.schemas import BulkResult, FileRead, FilesBulk, RelationshipsBulk
from servicekit.auth import CallerDep
from servicekit.bulk import BulkRoute
from servicekit.deps import SessionDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.roles import Role, role_operation
from services.metadata.files import service

router = APIRouter(prefix="/premis/packages/{package_uuid}/files", tags=["premis"], route_class=BulkRoute)


@router.post("", response_model=BulkResult, openapi_extra=internal_operation())
async def add_premis_files(package_uuid: UUID, body: FilesBulk, session: SessionDep, _caller: CallerDep) -> BulkResult:
    """Record up to 5000 file objects with their events. Idempotent: files and events already recorded
    (same uuids) are left unchanged, so a retried call is harmless."""
    return await service.add_files(session, package_uuid, body.files, body.events_agents)


@router.post("/relationships", response_model=BulkResult, openapi_extra=internal_operation())
async def add_premis_file_relationships(package_uuid: UUID, body: RelationshipsBulk, session: SessionDep,
                                        _caller: CallerDep) -> BulkResult:
    """Add PREMIS relationships to recorded files (an original that became the source of a derivative).
    Idempotent: relationships a file has already are left as they are."""
    return await service.add_relationships(session, package_uuid, body.files)


@router.get("", response_model=Page[FileRead], openapi_extra=role_operation(Role.reader))
async def list_premis_files(
    package_uuid: UUID,
    page: PageDep,
    session: SessionDep,
    _caller: CallerDep,
    use: str | None = Query(default=None, max_length=64, description="Only this fileGrp USE (e.g. original)."),
    puid: str | None = Query(default=None, max_length=64, description="Only files of this PRONOM id."),
    path_prefix: str | None = Query(default=None, max_length=4096, description="Only paths starting so "
                                    "(e.g. objects/letters/)."),
) -> Page[FileRead]:
    """The package's file objects in byte order of path, optionally filtered."""
    return await service.list_files(session, package_uuid, page,
                                    {"use": use, "puid": puid, "path_prefix": path_prefix})
