"""Locations: the defaults made at start-up, reading, resolving a target, and browsing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from uuid import UUID

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.storage.schemas import (
    BrowseEntry,
    BrowseEntryType,
    LocationBrowse,
    LocationCreate,
    LocationPurpose,
    LocationRead,
)
from servicekit.db import unit_of_work
from servicekit.problems import Conflict, NotFound, Problem
from servicekit.roots import AllowedRoots
from services.storage.locations.models import Location
from services.storage.locations.repository import LocationRepository
from services.storage.settings import StorageSettings
from services.storage.spaces.backend import NotAFolder, PathNotFound, SpaceBackend, UnsafePath
from services.storage.spaces.models import SpaceProtocol
from services.storage.spaces.service import backend_for, ensure_local_space


@dataclass(frozen=True)
class DefaultLocation:
    purpose: LocationPurpose
    path: Path
    description: str
    is_default: bool


def default_locations(settings: StorageSettings) -> list[DefaultLocation]:
    """The locations the settings ask for; the first of each purpose is that purpose's default."""
    wanted = [
        DefaultLocation(LocationPurpose.aip_storage, settings.aip_store_dir, "Default AIP storage", True),
        DefaultLocation(LocationPurpose.dip_storage, settings.dip_store_dir, "Default DIP storage", True),
        DefaultLocation(LocationPurpose.backlog, settings.backlog_dir, "Transfer backlog", True),
        DefaultLocation(
            LocationPurpose.currently_processing, settings.processing_dir, "Currently processing", True
        ),
    ]
    for index, folder in enumerate(settings.transfer_source_dirs):
        wanted.append(
            DefaultLocation(LocationPurpose.transfer_source, folder, f"Transfer source {folder}", index == 0)
        )
    return wanted


def normalized_path(path: Path) -> str:
    # Absolute but not symlink-resolved, so the record shows the folder the way it was configured.
    return os.path.abspath(os.path.expanduser(path))


async def ensure_default_locations(session: AsyncSession, settings: StorageSettings) -> list[Location]:
    """Create the configured locations that do not exist yet; idempotent, so every start-up runs it."""
    space = await ensure_local_space(session)
    repo = LocationRepository(session)
    locations: list[Location] = []
    for wanted in default_locations(settings):
        path = normalized_path(wanted.path)
        location = await repo.find(wanted.purpose, path)
        if location is None:
            location = await repo.add(
                Location(space_uuid=space.uuid, purpose=wanted.purpose, path=path, description=wanted.description)
            )
        if wanted.is_default and not location.is_default:
            # A changed setting moves the default; the old location stays, as it may still hold packages.
            await repo.make_sole_default(location)
        locations.append(location)
    return locations


def location_read(location: Location) -> LocationRead:
    return LocationRead.model_validate(location)


async def list_locations(session: AsyncSession, purpose: LocationPurpose | None) -> list[LocationRead]:
    return [location_read(location) for location in await LocationRepository(session).list(purpose)]


async def get_location(session: AsyncSession, location_uuid: UUID) -> Location:
    location = await LocationRepository(session).get(location_uuid)
    if location is None:
        raise NotFound("Location", location_uuid)
    return location


@dataclass(frozen=True)
class LocationTarget:
    """What file operations need of a location, detached from the session that loaded it."""

    uuid: UUID
    purpose: LocationPurpose
    path: str
    access_protocol: SpaceProtocol
    quota: int | None
    used: int
    roots: AllowedRoots

    def backend(self) -> SpaceBackend:
        """The location's backend, once its folder is found still inside the allowed roots (checked at every
        use: the row may predate the roots, or its root may have been removed from the settings since)."""
        self.roots.resolve(self.path, f"Location {self.uuid}")
        return backend_for(self.access_protocol, self.path)

    async def open_backend(self) -> SpaceBackend:
        """`backend()` from async code: the roots check reads the filesystem, so it runs in a worker thread."""
        return await anyio.to_thread.run_sync(self.backend)


async def location_target(
    session: AsyncSession, location_uuid: UUID | None, purpose: LocationPurpose, roots: AllowedRoots
) -> LocationTarget:
    """The named location, or the default one for `purpose` when none is named."""
    repo = LocationRepository(session)
    if location_uuid is None:
        default = await repo.default_for(purpose)
        if default is None:
            raise Problem(409, "No default location", f"There is no default {purpose.value} location")
        location_uuid = default.uuid
    found = await repo.get_with_space(location_uuid)
    if found is None:
        raise NotFound("Location", location_uuid)
    location, space = found
    return LocationTarget(
        uuid=location.uuid,
        purpose=LocationPurpose(location.purpose),
        path=location.path,
        access_protocol=SpaceProtocol(space.access_protocol),
        quota=location.quota,
        used=location.used,
        roots=roots,
    )


def _clean_relative(path: str) -> str:
    parts = [part for part in PurePosixPath(path).parts if part not in (".", "")]
    return str(PurePosixPath(*parts)) if parts else ""


async def browse_location(
    sessions: async_sessionmaker[AsyncSession], roots: AllowedRoots, location_uuid: UUID, path: str
) -> LocationBrowse:
    async with unit_of_work(sessions) as session:
        # Any location may be browsed; the purpose only picks a default, and the location is named.
        target = await location_target(session, location_uuid, LocationPurpose.transfer_source, roots)
    # The listing touches the disk, so it runs after the unit of work has ended.
    backend = await target.open_backend()
    try:
        entries = await backend.list_folder(path)
    except UnsafePath as exc:
        raise Problem(400, "Path outside the location", str(exc)) from exc
    except PathNotFound as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    except NotAFolder as exc:
        raise Problem(400, "Not a folder", str(exc)) from exc
    except PermissionError as exc:
        raise Problem(403, "Not readable", f"{path!r} cannot be read by the storage service") from exc
    except OSError as exc:
        raise Problem(400, "Cannot browse", f"{path!r} cannot be listed: {exc.strerror or exc}") from exc
    return LocationBrowse(
        location_uuid=location_uuid,
        path=_clean_relative(path),
        entries=[
            BrowseEntry(
                name=entry.name, type=BrowseEntryType.dir if entry.is_dir else BrowseEntryType.file, size=entry.size,
                file_count=entry.file_count, complete=entry.complete,
            )
            for entry in entries
        ],
    )


async def create_location(
    sessions: async_sessionmaker[AsyncSession], roots: AllowedRoots, body: LocationCreate
) -> LocationRead:
    """A new location in the local space; its folder is made first, outside the transaction.

    The folder must lie inside the allowed roots once resolved; a relative path is taken from the first root.
    It is checked again once made, in case a link appeared on the way meanwhile.
    """
    if any(ord(char) < 0x20 or char == "\x7f" for char in body.path):
        raise Problem(422, "Invalid path", "A location's path cannot hold control characters")
    if body.path.startswith("~"):
        raise Problem(422, "Invalid path", "A location's path is absolute or relative to the first allowed root; "
                      "'~' is not expanded")
    path = str(roots.absolute(body.path))

    def make() -> None:
        roots.resolve(path, "The location path")
        Path(path).mkdir(parents=True, exist_ok=True)
        roots.resolve(path, "The location path")

    try:
        await anyio.to_thread.run_sync(make)
    except OSError as exc:
        raise Problem(422, "Invalid path", f"The folder cannot be made: {exc}") from exc
    async with unit_of_work(sessions) as session:
        repo = LocationRepository(session)
        if await repo.find(body.purpose, path) is not None:
            raise Conflict(f"There is already a {body.purpose} location at {path}")
        space = await ensure_local_space(session)
        location = await repo.add(Location(space_uuid=space.uuid, purpose=body.purpose, path=path,
                                           description=body.description, quota=body.quota))
        if body.is_default:
            await repo.make_sole_default(location)
        return location_read(location)


async def attach_replicator(session: AsyncSession, location_uuid: UUID, replicator_uuid: UUID) -> list[LocationRead]:
    repo = LocationRepository(session)
    location = await get_location(session, location_uuid)
    replicator = await get_location(session, replicator_uuid)
    if location.purpose != LocationPurpose.aip_storage:
        raise Problem(422, "Wrong location", f"Location {location_uuid} is not an AIP storage location")
    if replicator.purpose != LocationPurpose.replicator:
        raise Problem(422, "Wrong location", f"Location {replicator_uuid} is not a replicator location")
    await repo.add_replicator(location_uuid, replicator_uuid)
    return [location_read(r) for r in await repo.replicators_of(location_uuid)]


async def list_replicators(session: AsyncSession, location_uuid: UUID) -> list[LocationRead]:
    await get_location(session, location_uuid)
    return [location_read(r) for r in await LocationRepository(session).replicators_of(location_uuid)]
