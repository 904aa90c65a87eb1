"""Queries on locations."""

from __future__ import annotations

import builtins
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from clients.storage.schemas import LocationPurpose
from services.storage.locations.models import Location, LocationReplicator
from services.storage.spaces.models import Space


class LocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _path_order(self) -> Any:
        # Byte order on both databases: PostgreSQL would otherwise sort by the server's locale.
        if self.session.get_bind().dialect.name == "postgresql":
            return col(Location.path).collate("C")
        return col(Location.path)

    async def get(self, location_uuid: UUID) -> Location | None:
        return await self.session.get(Location, location_uuid)

    async def get_with_space(self, location_uuid: UUID) -> tuple[Location, Space] | None:
        result = await self.session.execute(
            select(Location, Space)
            .join(Space, col(Space.uuid) == col(Location.space_uuid))
            .where(col(Location.uuid) == location_uuid)
        )
        row = result.one_or_none()
        return None if row is None else (row[0], row[1])

    async def list(self, purpose: LocationPurpose | None = None) -> list[Location]:
        query = select(Location)
        if purpose is not None:
            query = query.where(col(Location.purpose) == purpose)
        query = query.order_by(col(Location.purpose), self._path_order(), col(Location.uuid))
        return list((await self.session.execute(query)).scalars())

    async def find(self, purpose: LocationPurpose, path: str) -> Location | None:
        result = await self.session.execute(
            select(Location).where(col(Location.purpose) == purpose, col(Location.path) == path).limit(1)
        )
        return result.scalar_one_or_none()

    async def default_for(self, purpose: LocationPurpose) -> Location | None:
        result = await self.session.execute(
            select(Location)
            .where(col(Location.purpose) == purpose, col(Location.is_default).is_(True))
            .order_by(col(Location.created_at), col(Location.uuid))
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def add(self, location: Location) -> Location:
        self.session.add(location)
        await self.session.flush()
        return location

    async def make_sole_default(self, location: Location) -> None:
        await self.session.execute(
            update(Location)
            .where(col(Location.purpose) == location.purpose, col(Location.uuid) != location.uuid)
            .values(is_default=False)
        )
        location.is_default = True
        await self.session.flush()

    async def add_used(self, location_uuid: UUID, delta: int) -> None:
        # One UPDATE, so concurrent stores into the same location never lose an increment.
        await self.session.execute(
            update(Location).where(col(Location.uuid) == location_uuid).values(used=col(Location.used) + delta)
        )

    async def replicators_of(self, location_uuid: UUID) -> builtins.list[Location]:
        rows = await self.session.execute(
            select(Location)
            .join(LocationReplicator, col(LocationReplicator.replicator_uuid) == col(Location.uuid))
            .where(col(LocationReplicator.location_uuid) == location_uuid)
            .order_by(self._path_order(), col(Location.uuid))
        )
        return list(rows.scalars())

    async def add_replicator(self, location_uuid: UUID, replicator_uuid: UUID) -> None:
        if await self.session.get(LocationReplicator, (location_uuid, replicator_uuid)) is None:
            self.session.add(LocationReplicator(location_uuid=location_uuid, replicator_uuid=replicator_uuid))
            await self.session.flush()
