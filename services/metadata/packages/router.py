"""HTTP operations on packages."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from clients.metadata.schemas import PackageRead, PackageUpsert
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep
from servicekit.openapi import internal_operation
from services.metadata.packages import service

router = APIRouter(prefix="/premis/packages", tags=["premis"])


@router.put("/{package_uuid}", response_model=PackageRead, openapi_extra=internal_operation())
async def upsert_premis_package(
    package_uuid: UUID, body: PackageUpsert, session: SessionDep, _caller: CallerDep
) -> PackageRead:
    """Create the package or update its name; repeating the call changes nothing."""
    return await service.upsert_package(session, package_uuid, body)


@router.get("/{package_uuid}", response_model=PackageRead)
async def read_premis_package(package_uuid: UUID, session: SessionDep, _caller: CallerDep) -> PackageRead:
    """The package with the number of file objects and events recorded for it."""
    return await service.read_package(session, package_uuid)
