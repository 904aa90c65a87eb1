"""HTTP operations on the path-keyed record: descriptive metadata, rights, identifiers, directories, structMaps."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Path

from clients.metadata.schemas import (
    BulkResult,
    DescriptiveBulk,
    DescriptiveRead,
    DirectoriesBulk,
    DirectoryRead,
    IdentifiersBulk,
    RightsBulk,
    RightsRead,
    StructMapRead,
    StructMapUpload,
)
from servicekit.auth import CallerDep
from servicekit.bulk import BulkRoute
from servicekit.deps import SessionDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.roles import Role, role_operation
from services.metadata.record import service

router = APIRouter(prefix="/premis/packages/{package_uuid}", tags=["premis"], route_class=BulkRoute)


@router.post("/descriptive", response_model=BulkResult, openapi_extra=internal_operation())
async def add_premis_descriptive_metadata(
    package_uuid: UUID, body: DescriptiveBulk, session: SessionDep, _caller: CallerDep
) -> BulkResult:
    """Record Dublin Core or custom metadata by path (`objects` = the package). Idempotent: a described path
    keeps its record."""
    return await service.add_descriptive(session, package_uuid, body.kind, body.records)


@router.get("/descriptive", response_model=Page[DescriptiveRead], openapi_extra=role_operation(Role.reader))
async def list_premis_descriptive_metadata(
    package_uuid: UUID, page: PageDep, session: SessionDep, _caller: CallerDep
) -> Page[DescriptiveRead]:
    """The package's descriptive metadata records, by path."""
    return await service.list_descriptive(session, package_uuid, page)


@router.post("/rights", response_model=BulkResult, openapi_extra=internal_operation())
async def add_premis_rights(
    package_uuid: UUID, body: RightsBulk, session: SessionDep, _caller: CallerDep
) -> BulkResult:
    """Record PREMIS rights statements by path (`objects`: every file). Idempotent (uuids derive from content)."""
    return await service.add_rights(session, package_uuid, body.records)


@router.get("/rights", response_model=Page[RightsRead], openapi_extra=role_operation(Role.reader))
async def list_premis_rights(
    package_uuid: UUID, page: PageDep, session: SessionDep, _caller: CallerDep
) -> Page[RightsRead]:
    """The package's rights statements, by path."""
    return await service.list_rights(session, package_uuid, page)


@router.post("/identifiers", response_model=BulkResult, openapi_extra=internal_operation())
async def add_premis_identifiers(
    package_uuid: UUID, body: IdentifiersBulk, session: SessionDep, _caller: CallerDep
) -> BulkResult:
    """Record identifiers (metadata/identifiers.json) by path. Idempotent."""
    return await service.add_identifiers(session, package_uuid, body.records)


@router.post("/directories", response_model=BulkResult, openapi_extra=internal_operation())
async def add_premis_directories(
    package_uuid: UUID, body: DirectoriesBulk, session: SessionDep, _caller: CallerDep
) -> BulkResult:
    """Record directories as intellectual entities (uuids derived from the path); empty ones are kept in the
    METS's Normative Directory Structure. Idempotent."""
    return await service.add_directories(session, package_uuid, body.paths, empty=body.empty)


@router.get("/directories", response_model=Page[DirectoryRead], openapi_extra=role_operation(Role.reader))
async def list_premis_directories(
    package_uuid: UUID, page: PageDep, session: SessionDep, _caller: CallerDep
) -> Page[DirectoryRead]:
    """The package's recorded directories, by path."""
    return await service.list_directories(session, package_uuid, page)


@router.put("/structmaps/{ordinal}", response_model=StructMapRead, openapi_extra=internal_operation())
async def put_premis_custom_structmap(
    package_uuid: UUID, body: StructMapUpload, session: SessionDep, _caller: CallerDep,
    ordinal: int = Path(ge=1, le=100),
) -> StructMapRead:
    """Attach a transfer's metadata/mets_structmap.xml (parsed safely; its fptr FILEIDs are paths relative to
    objects/). Sending the same document again changes nothing."""
    return await service.put_struct_map(session, package_uuid, ordinal, body)
