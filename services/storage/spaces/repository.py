"""Queries on spaces."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.storage.spaces.models import Space, SpaceProtocol


class SpaceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, space_uuid: UUID) -> Space | None:
        return await self.session.get(Space, space_uuid)

    async def find(self, access_protocol: SpaceProtocol, path: str) -> Space | None:
        result = await self.session.execute(
            select(Space).where(col(Space.access_protocol) == access_protocol, col(Space.path) == path).limit(1)
        )
        return result.scalar_one_or_none()

    async def add(self, space: Space) -> Space:
        self.session.add(space)
        await self.session.flush()
        return space
