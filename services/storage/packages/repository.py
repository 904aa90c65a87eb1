"""Queries on packages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from clients.storage.schemas import PackageStatus, PackageType
from services.storage.packages.models import Package


class PackageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, package_uuid: UUID) -> Package | None:
        return await self.session.get(Package, package_uuid, populate_existing=True)

    async def page(
        self, package_type: PackageType, status: PackageStatus | None, limit: int, offset: int,
        related_to: UUID | None = None,
    ) -> tuple[list[Package], int]:
        conditions = [col(Package.package_type) == package_type]
        if status is not None:
            conditions.append(col(Package.status) == status)
        if related_to is not None:
            conditions.append(col(Package.related_package_uuid) == related_to)
        total = (await self.session.execute(select(func.count()).select_from(Package).where(*conditions))).scalar_one()
        rows = await self.session.execute(
            select(Package)
            .where(*conditions)
            .order_by(col(Package.created_at), col(Package.uuid))
            .limit(limit)
            .offset(offset)
        )
        return list(rows.scalars()), total

    async def add(self, package: Package) -> Package:
        self.session.add(package)
        await self.session.flush()
        return package

    async def mark_stored(self, package_uuid: UUID, stored_at: datetime) -> bool:
        """Pending -> stored; False when another request got there first (so nothing is counted twice)."""
        result = await self.session.execute(
            update(Package)
            .where(col(Package.uuid) == package_uuid, col(Package.status) == PackageStatus.pending)
            .values(status=PackageStatus.stored, stored_at=stored_at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def mark_failed(self, package_uuid: UUID) -> None:
        await self.session.execute(
            update(Package)
            .where(col(Package.uuid) == package_uuid, col(Package.status) == PackageStatus.pending)
            .values(status=PackageStatus.failed)
        )

    async def set_fields(self, package_uuid: UUID, **values: Any) -> None:
        await self.session.execute(update(Package).where(col(Package.uuid) == package_uuid).values(**values))

    async def in_location(self, location_uuid: UUID, statuses: Sequence[PackageStatus]) -> list[UUID]:
        rows = await self.session.execute(
            select(col(Package.uuid))
            .where(col(Package.location_uuid) == location_uuid, col(Package.status).in_(list(statuses)))
            .order_by(col(Package.created_at), col(Package.uuid))
        )
        return list(rows.scalars())

    async def replicas_of(self, package_uuid: UUID) -> list[Package]:
        rows = await self.session.execute(
            select(Package).where(col(Package.replica_of) == package_uuid).order_by(col(Package.created_at))
        )
        return list(rows.scalars())

    async def totals(self) -> dict[tuple[PackageType, PackageStatus], tuple[int, int]]:
        """(count, bytes) of the packages by type and status."""
        statement = select(
            col(Package.package_type), col(Package.status), func.count(), func.coalesce(func.sum(Package.size), 0)
        ).group_by(col(Package.package_type), col(Package.status))
        rows = (await self.session.execute(statement)).all()
        return {(PackageType(kind), PackageStatus(status)): (int(count), int(size or 0))
                for kind, status, count, size in rows}

    async def fixity_results(self) -> dict[str, int]:
        """Packages not deleted by their last fixity check: passed, failed or unchecked."""
        statement = (
            select(col(Package.fixity_ok), func.count())
            .where(col(Package.status) != PackageStatus.deleted)
            .group_by(col(Package.fixity_ok))
        )
        names = {True: "passed", False: "failed", None: "unchecked"}
        return {names[ok]: int(count) for ok, count in (await self.session.execute(statement)).all()}
