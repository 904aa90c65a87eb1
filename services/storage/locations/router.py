"""HTTP operations on locations."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from clients.storage.schemas import LocationBrowse, LocationPurpose, LocationRead
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep, SessionsDep
from services.storage.locations import service

router = APIRouter(prefix="/locations", tags=["locations"])


@router.get("", response_model=list[LocationRead], summary="List storage locations")
async def list_storage_locations(
    session: SessionDep,
    caller: CallerDep,
    purpose: Annotated[LocationPurpose | None, Query(description="Only locations with this purpose")] = None,
) -> list[LocationRead]:
    return await service.list_locations(session, purpose)


@router.get("/{location_uuid}", response_model=LocationRead, summary="Get a storage location")
async def get_storage_location(location_uuid: UUID, session: SessionDep, caller: CallerDep) -> LocationRead:
    return service.location_read(await service.get_location(session, location_uuid))


@router.get(
    "/{location_uuid}/browse", response_model=LocationBrowse, summary="List a folder inside a storage location"
)
async def browse_storage_location(
    location_uuid: UUID,
    sessions: SessionsDep,
    caller: CallerDep,
    path: Annotated[str, Query(max_length=4096, description="Folder relative to the location; '' is its root")] = "",
) -> LocationBrowse:
    """Folders and files of one folder; paths leaving the location (`..`, absolute, symlinks out) are refused."""
    return await service.browse_location(sessions, location_uuid, path)
