"""Spaces: the default local space, and the backend that serves a location of a space."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from services.storage.spaces.backend import SpaceBackend
from services.storage.spaces.local import LocalFilesystemSpace
from services.storage.spaces.models import Space, SpaceProtocol
from services.storage.spaces.repository import SpaceRepository

LOCAL_ROOT = "/"


async def ensure_local_space(session: AsyncSession) -> Space:
    """The local filesystem space every default location lives in; created once, found thereafter."""
    repo = SpaceRepository(session)
    space = await repo.find(SpaceProtocol.local_filesystem, LOCAL_ROOT)
    if space is None:
        space = await repo.add(
            Space(access_protocol=SpaceProtocol.local_filesystem, path=LOCAL_ROOT, description="Local filesystem")
        )
    return space


def backend_for(access_protocol: SpaceProtocol | str, location_path: str) -> SpaceBackend:
    """The backend serving one location; the only place that knows which class implements which protocol."""
    if access_protocol == SpaceProtocol.local_filesystem:
        return LocalFilesystemSpace(Path(location_path))
    raise ValueError(f"no backend for spaces of protocol {access_protocol!r}")
