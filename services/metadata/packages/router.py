"""HTTP operations on packages."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request

from clients.metadata.schemas import AipPackageRead, AipPackageRecord, PackageRead, PackageUpsert
from servicekit.auth import CallerDep
from servicekit.db import unit_of_work
from servicekit.deps import SessionDep, SessionsDep
from servicekit.openapi import internal_operation
from servicekit.roles import Role, role_operation
from services.metadata.packages import service
from services.metadata.search import service as search_service

router = APIRouter(prefix="/premis/packages", tags=["premis"])


@router.put("/{package_uuid}", response_model=PackageRead, openapi_extra=internal_operation())
async def upsert_premis_package(
    package_uuid: UUID, body: PackageUpsert, session: SessionDep, _caller: CallerDep
) -> PackageRead:
    """Create the package or update its name; repeating the call changes nothing."""
    return await service.upsert_package(session, package_uuid, body)


@router.get("/{package_uuid}", response_model=PackageRead, openapi_extra=role_operation(Role.reader))
async def read_premis_package(package_uuid: UUID, session: SessionDep, _caller: CallerDep) -> PackageRead:
    """The package with the number of file objects and events recorded for it."""
    return await service.read_package(session, package_uuid)


@router.put("/{package_uuid}/aip", response_model=AipPackageRead, openapi_extra=internal_operation())
async def record_premis_aip_package(
    package_uuid: UUID, body: AipPackageRecord, request: Request, sessions: SessionsDep, _caller: CallerDep
) -> AipPackageRead:
    """Mark the package stored: record its AIP file (size, fixity, compression) for the pointer file, and queue
    the package for search indexing (in the background; indexing never fails this call). Idempotent."""
    async with unit_of_work(sessions) as session:
        aip = await service.record_aip(session, package_uuid, body)
        await search_service.request_index(session, package_uuid)
    request.app.state.indexer.wake.set()
    return aip


@router.get("/{package_uuid}/aip", response_model=AipPackageRead, openapi_extra=role_operation(Role.reader))
async def read_premis_aip_package(package_uuid: UUID, session: SessionDep, _caller: CallerDep) -> AipPackageRead:
    """The recorded AIP file of the package."""
    return await service.read_aip(session, package_uuid)



