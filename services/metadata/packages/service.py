"""Packages: idempotent upsert and reading with their object and event counts."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from clients.metadata.schemas import DELETED_USE, AipPackageRead, AipPackageRecord, PackageRead, PackageUpsert
from servicekit.db import utcnow
from servicekit.problems import NotFound
from services.metadata.events import repository as events
from services.metadata.files import repository as files
from services.metadata.packages import repository
from services.metadata.packages.models import Package


async def require_package(session: AsyncSession, package_uuid: UUID) -> Package:
    package = await repository.get(session, package_uuid)
    if package is None:
        raise NotFound("Package", package_uuid)
    return package


async def upsert_package(session: AsyncSession, package_uuid: UUID, body: PackageUpsert) -> PackageRead:
    await repository.insert_if_absent(
        session,
        {"uuid": package_uuid, "name": body.name, "transfer_uuid": body.transfer_uuid, "created_at": utcnow()},
    )
    package = await require_package(session, package_uuid)
    package.name = body.name
    package.transfer_uuid = body.transfer_uuid
    await session.flush()
    return await _read(session, package)


async def read_package(session: AsyncSession, package_uuid: UUID) -> PackageRead:
    return await _read(session, await require_package(session, package_uuid))


async def _read(session: AsyncSession, package: Package) -> PackageRead:
    return PackageRead(
        uuid=package.uuid,
        name=package.name,
        transfer_uuid=package.transfer_uuid,
        created_at=package.created_at,
        file_count=await files.count(session, package.uuid),
        deleted_file_count=await files.count(session, package.uuid, {"use": DELETED_USE}),
        event_count=await events.count(session, package.uuid),
    )


async def record_aip(session: AsyncSession, package_uuid: UUID, body: AipPackageRecord) -> AipPackageRead:
    """Record the stored AIP file (what its pointer file describes). Repeating the call changes nothing."""
    await require_package(session, package_uuid)
    values = {**body.model_dump(), "package_uuid": package_uuid, "created_at": body.created_at or utcnow()}
    current = await repository.aip(session, package_uuid)
    if current is not None and body.created_at is None:
        values["created_at"] = current.created_at  # a retry without a date keeps the first one
    aip = await repository.save_aip(session, values)
    return AipPackageRead.model_validate(aip, from_attributes=True)


async def read_aip(session: AsyncSession, package_uuid: UUID) -> AipPackageRead:
    await require_package(session, package_uuid)
    aip = await repository.aip(session, package_uuid)
    if aip is None:
        raise NotFound("Stored AIP package of", package_uuid)
    return AipPackageRead.model_validate(aip, from_attributes=True)
