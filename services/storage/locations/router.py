"""HTTP operations on locations."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from clients.storage.schemas import AuditRead, LocationBrowse, LocationCreate, LocationPurpose, LocationRead
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep
from servicekit.roles import Role, role_operation
from services.storage.fixity.service import read_audit, start_audit
from services.storage.locations import service
from services.storage.runtime import RuntimeDep

router = APIRouter(prefix="/locations", tags=["locations"])


@router.get(
    "", response_model=list[LocationRead], summary="List storage locations",
    openapi_extra=role_operation(Role.reader),
)
async def list_storage_locations(
    session: SessionDep,
    caller: CallerDep,
    purpose: Annotated[LocationPurpose | None, Query(description="Only locations with this purpose")] = None,
) -> list[LocationRead]:
    return await service.list_locations(session, purpose)


@router.get(
    "/{location_uuid}", response_model=LocationRead, summary="Get a storage location",
    openapi_extra=role_operation(Role.reader),
)
async def get_storage_location(location_uuid: UUID, session: SessionDep, caller: CallerDep) -> LocationRead:
    return service.location_read(await service.get_location(session, location_uuid))


# Archivist, not reader: it lists the server's folders, which only matters for choosing a transfer source.
@router.get(
    "/{location_uuid}/browse", response_model=LocationBrowse, summary="List a folder inside a storage location",
    openapi_extra=role_operation(Role.archivist),
)
async def browse_storage_location(
    location_uuid: UUID,
    runtime: RuntimeDep,
    caller: CallerDep,
    path: Annotated[str, Query(max_length=4096, description="Folder relative to the location; '' is its root")] = "",
) -> LocationBrowse:
    """Folders and files of one folder; paths leaving the location (`..`, absolute, symlinks out) are refused, as
    is a location whose folder is no longer inside the allowed roots."""
    return await service.browse_location(runtime.sessions, runtime.roots, location_uuid, path)


@router.post(
    "", response_model=LocationRead, status_code=status.HTTP_201_CREATED, summary="Create a location",
    openapi_extra=role_operation(Role.admin),
)
async def create_storage_location(body: LocationCreate, runtime: RuntimeDep, caller: CallerDep) -> LocationRead:
    """A folder of the local filesystem space with a purpose; the folder is created when missing. It must lie
    inside the roots the operator allows (`AMBER_STORAGE_ALLOWED_ROOTS`), links resolved; else 422."""
    return await service.create_location(runtime.sessions, runtime.roots, body)


@router.put(
    "/{location_uuid}/replicators/{replicator_uuid}", response_model=list[LocationRead],
    summary="Attach a replicator location to an AIP storage location",
    openapi_extra=role_operation(Role.admin),
)
async def attach_location_replicator(
    location_uuid: UUID, replicator_uuid: UUID, session: SessionDep, caller: CallerDep
) -> list[LocationRead]:
    """Every AIP stored in the location from now on is copied there too; answers all its replicators."""
    return await service.attach_replicator(session, location_uuid, replicator_uuid)


@router.get(
    "/{location_uuid}/replicators", response_model=list[LocationRead], summary="List a location's replicators",
    openapi_extra=role_operation(Role.reader),
)
async def list_location_replicators(location_uuid: UUID, session: SessionDep, caller: CallerDep) -> list[LocationRead]:
    return await service.list_replicators(session, location_uuid)


# Archivist: an audit is the fixity check of every package in the location; it changes nothing.
@router.post(
    "/{location_uuid}/audits", response_model=AuditRead, status_code=status.HTTP_202_ACCEPTED,
    summary="Start a fixity audit of every package in a location",
    openapi_extra=role_operation(Role.archivist),
)
async def start_location_audit(location_uuid: UUID, runtime: RuntimeDep, caller: CallerDep) -> AuditRead:
    """Runs in the background; follow it with `get_location_audit`."""
    return await start_audit(runtime, location_uuid)


audits_router = APIRouter(prefix="/audits", tags=["locations"])


@audits_router.get(
    "/{audit_uuid}", response_model=AuditRead, summary="Get a location audit's progress",
    openapi_extra=role_operation(Role.reader),
)
async def get_location_audit(audit_uuid: UUID, runtime: RuntimeDep, caller: CallerDep) -> AuditRead:
    return await read_audit(runtime, audit_uuid)
