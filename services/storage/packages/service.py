"""Packages: storing an AIP from a streamed body, reading records, and locating the file to download.

Storing never holds a transaction open while bytes move: one short unit of work decides whether to accept the
upload, the body is streamed to a temporary file, a second unit of work records the package as pending, the
file is moved into place, and a third marks it stored. A crash in between leaves at worst a pending record
whose retry (PUT is idempotent) completes it, and never a record saying "stored" without its file.
"""

from __future__ import annotations

import contextlib
import logging
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.storage.schemas import LocationPurpose, PackageRead, PackageStatus, PackageType
from servicekit.db import unit_of_work, utcnow
from servicekit.ids import uuid_quad_path
from servicekit.pagination import Page, PageParams
from servicekit.problems import Conflict, NotFound, Problem
from services.storage.locations.repository import LocationRepository
from services.storage.locations.service import LocationTarget, location_target
from services.storage.packages.models import Package
from services.storage.packages.repository import PackageRepository
from services.storage.spaces.backend import IncomingFile, SpaceBackend
from services.storage.spaces.service import backend_for

log = logging.getLogger(__name__)

NAME_MAX = 200
EXTENSION_PATTERN = re.compile(r"^[A-Za-z0-9]+(\.[A-Za-z0-9]+)*$")
EXTENSION_MAX = 16


def package_read(package: Package) -> PackageRead:
    return PackageRead.model_validate(package)


def check_name(name: str) -> None:
    """The name becomes part of a file name, so it must be one path segment of printable characters."""
    if not name or len(name) > NAME_MAX or len(name.encode()) > NAME_MAX:
        raise Problem(422, "Invalid package name", f"A package name has 1 to {NAME_MAX} characters")
    if name in (".", "..") or any(ch in "/\\" or unicodedata.category(ch).startswith("C") for ch in name):
        raise Problem(
            422, "Invalid package name", "A package name cannot contain slashes or control characters"
        )


def check_extension(extension: str) -> None:
    if len(extension) > EXTENSION_MAX or not EXTENSION_PATTERN.match(extension):
        raise Problem(422, "Invalid extension", "An extension is dot-separated letters and digits, e.g. 7z, tar.gz")


def package_filename(name: str, package_uuid: UUID, extension: str) -> str:
    return f"{name}-{package_uuid}.{extension}"


def package_path(name: str, package_uuid: UUID, extension: str) -> str:
    """The Storage Service layout: quad folders of the UUID, then `<name>-<uuid>.<extension>`."""
    return str(uuid_quad_path(package_uuid) / package_filename(name, package_uuid, extension))


@dataclass(frozen=True)
class StoreRequest:
    aip_uuid: UUID
    name: str
    sha256: str
    extension: str = "7z"
    location_uuid: UUID | None = None
    origin: str | None = None
    content_length: int | None = None


def _existing_verdict(existing: Package | None, request: StoreRequest, location_uuid: UUID) -> Package | None:
    """Whether an upload may proceed given what is recorded: returns the package to answer with when it is
    already stored with this very content, None to go ahead, and raises when the upload conflicts."""
    if existing is None or existing.status == PackageStatus.failed:
        return None
    if existing.package_type != PackageType.aip:
        raise Conflict(f"{request.aip_uuid} is a {existing.package_type} package, not an AIP")
    if existing.status == PackageStatus.stored:
        if existing.sha256 == request.sha256:
            return existing
        raise Conflict(f"AIP {request.aip_uuid} is already stored with SHA-256 {existing.sha256}")
    if existing.status == PackageStatus.pending:
        if existing.sha256 == request.sha256 and existing.location_uuid == location_uuid:
            return None  # an interrupted or concurrent store of the same bytes: storing again completes it
        raise Conflict(f"AIP {request.aip_uuid} is being stored with other content or in another location")
    raise Conflict(f"AIP {request.aip_uuid} is {existing.status}")


def _check_quota(target: LocationTarget, size: int) -> None:
    if target.quota is not None and target.used + size > target.quota:
        free = max(target.quota - target.used, 0)
        raise Problem(507, "Insufficient storage", f"Location {target.uuid} has {free} bytes of its quota free")


async def _drain(body: AsyncIterator[bytes]) -> None:
    async for _chunk in body:
        pass


async def _receive(backend: SpaceBackend, request: StoreRequest, body: AsyncIterator[bytes]) -> IncomingFile:
    incoming = await backend.open_incoming(str(request.aip_uuid))
    try:
        async for chunk in body:
            await incoming.write(chunk)
        await incoming.finish()
        if incoming.size == 0:
            raise Problem(422, "Empty package", "The request body (the package file) is empty")
        if request.content_length is not None and incoming.size != request.content_length:
            raise Problem(
                400, "Incomplete upload", f"Received {incoming.size} bytes of the {request.content_length} announced"
            )
        if incoming.sha256 != request.sha256:
            raise Problem(
                422,
                "Checksum mismatch",
                f"The SHA-256 of the received package is {incoming.sha256}, expected {request.sha256}",
            )
    except BaseException:
        await incoming.discard()
        raise
    return incoming


async def _record_pending(
    session: AsyncSession, request: StoreRequest, target: LocationTarget, incoming: IncomingFile
) -> Package | None:
    """Record the package as pending (None), or return the record that makes this upload redundant."""
    repo = PackageRepository(session)
    existing = await repo.get(request.aip_uuid)
    answer = _existing_verdict(existing, request, target.uuid)
    if answer is not None:
        return answer
    fields: dict[str, Any] = {
        "name": request.name,
        "package_type": PackageType.aip,
        "status": PackageStatus.pending,
        "location_uuid": target.uuid,
        "current_path": package_path(request.name, request.aip_uuid, request.extension),
        "size": incoming.size,
        "sha256": incoming.sha256,
        "origin": request.origin,
        "stored_at": None,
    }
    if existing is None:
        await repo.add(Package(uuid=request.aip_uuid, **fields))
    else:
        for key, value in fields.items():
            setattr(existing, key, value)
        await session.flush()
    return None


async def _record_pending_retrying(
    sessions: async_sessionmaker[AsyncSession], request: StoreRequest, target: LocationTarget, incoming: IncomingFile
) -> PackageRead | None:
    for attempt in (1, 2):
        try:
            async with unit_of_work(sessions) as session:
                answer = await _record_pending(session, request, target, incoming)
                return package_read(answer) if answer is not None else None
        except IntegrityError:
            # A concurrent upload of the same UUID recorded it first; judge again against its record.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def store_aip(
    sessions: async_sessionmaker[AsyncSession], request: StoreRequest, body: AsyncIterator[bytes]
) -> tuple[PackageRead, bool]:
    """Store the AIP streamed in `body`; returns (package, created). Idempotent for identical content."""
    check_name(request.name)
    check_extension(request.extension)
    async with unit_of_work(sessions) as session:
        target = await location_target(session, request.location_uuid, LocationPurpose.aip_storage)
        if target.purpose != LocationPurpose.aip_storage:
            raise Problem(422, "Wrong location", f"Location {target.uuid} is for {target.purpose}, not AIP storage")
        existing = await PackageRepository(session).get(request.aip_uuid)
        answer = _existing_verdict(existing, request, target.uuid)
        answer_read = package_read(answer) if answer is not None else None
    if answer_read is not None:
        # Already stored with these bytes: the retried upload is read to its end and dropped.
        await _drain(body)
        return answer_read, False
    if request.content_length is not None:
        _check_quota(target, request.content_length)

    incoming = await _receive(target.backend(), request, body)
    try:
        _check_quota(target, incoming.size)  # a chunked upload announces no length up front
        answer_read = await _record_pending_retrying(sessions, request, target, incoming)
    except BaseException:
        await incoming.discard()
        raise
    if answer_read is not None:
        await incoming.discard()
        return answer_read, False

    current_path = package_path(request.name, request.aip_uuid, request.extension)
    try:
        await incoming.commit(current_path)
    except BaseException:
        await incoming.discard()
        with contextlib.suppress(Exception):
            async with unit_of_work(sessions) as session:
                await PackageRepository(session).mark_failed(request.aip_uuid)
        raise

    async with unit_of_work(sessions) as session:
        if await PackageRepository(session).mark_stored(request.aip_uuid, utcnow()):
            await LocationRepository(session).add_used(target.uuid, incoming.size)
        package = await PackageRepository(session).get(request.aip_uuid)
        assert package is not None
        stored = package_read(package)
    log.info("stored AIP %s (%d bytes) at %s", request.aip_uuid, incoming.size, current_path)
    return stored, True


async def _get_aip(session: AsyncSession, aip_uuid: UUID) -> Package:
    package = await PackageRepository(session).get(aip_uuid)
    if package is None or package.package_type != PackageType.aip:
        raise NotFound("AIP", aip_uuid)
    return package


async def read_aip(session: AsyncSession, aip_uuid: UUID) -> PackageRead:
    return package_read(await _get_aip(session, aip_uuid))


async def list_aips(session: AsyncSession, status: PackageStatus | None, page: PageParams) -> Page[PackageRead]:
    items, total = await PackageRepository(session).page(PackageType.aip, status, page.limit, page.offset)
    return Page[PackageRead](
        items=[package_read(item) for item in items], total=total, limit=page.limit, offset=page.offset
    )


@dataclass(frozen=True)
class DownloadSource:
    backend: SpaceBackend
    relative_path: str
    size: int
    sha256: str | None
    filename: str


async def download_source(sessions: async_sessionmaker[AsyncSession], aip_uuid: UUID) -> DownloadSource:
    """Where a stored AIP's bytes are; the unit of work ends before any of them is read."""
    async with unit_of_work(sessions) as session:
        package = await _get_aip(session, aip_uuid)
        if package.status != PackageStatus.stored:
            raise Conflict(f"AIP {aip_uuid} is {package.status}, not stored")
        found = await LocationRepository(session).get_with_space(package.location_uuid)
        assert found is not None  # the foreign key guarantees it
        location, space = found
        backend = backend_for(space.access_protocol, location.path)
        relative_path, sha256 = package.current_path, package.sha256
    stat = await backend.stat(relative_path)
    if stat is None:
        log.error("the file of stored AIP %s is missing at %s", aip_uuid, relative_path)
        raise Problem(500, "Package file missing", f"The file of AIP {aip_uuid} is missing from its location")
    return DownloadSource(
        backend=backend,
        relative_path=relative_path,
        size=stat.size,
        sha256=sha256,
        filename=relative_path.rsplit("/", 1)[-1],
    )
