"""Packages: storing an AIP from a streamed body, reading records, and locating the file to download.

Storing never holds a transaction open while bytes move: one short unit of work decides whether to accept the
upload, the body is streamed to a temporary file, a second unit of work records the package as pending, the
file is moved into place, and a third marks it stored. A crash in between leaves at worst a pending record
whose retry (PUT is idempotent) completes it, and never a record saying "stored" without its file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tarfile
import time
import unicodedata
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any
from uuid import UUID

import anyio.to_thread
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.storage.schemas import LocationPurpose, PackageRead, PackageStatus, PackageType
from servicekit.db import unit_of_work, utcnow
from servicekit.ids import uuid_quad_path
from servicekit.pagination import Page, PageParams
from servicekit.problems import Conflict, NotFound, Problem
from servicekit.roots import AllowedRoots
from services.storage import domain_events
from services.storage.fixity.bag import BagCheck
from services.storage.locations.repository import LocationRepository
from services.storage.locations.service import LocationTarget, location_target
from services.storage.packages.archive import (
    ArchiveError,
    PackageFormat,
    TarPlan,
    extract_member,
    package_format,
    plan_tar,
)
from services.storage.packages.models import Package
from services.storage.packages.repository import PackageRepository
from services.storage.packages.unpack import BodyReader, unpack_tar
from services.storage.spaces.backend import ChecksumMismatch, IncomingFile, SpaceBackend

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


PURPOSE_OF = {
    PackageType.aip: LocationPurpose.aip_storage,
    PackageType.dip: LocationPurpose.dip_storage,
    PackageType.transfer: LocationPurpose.backlog,
}


@dataclass(frozen=True)
class StoreRequest:
    aip_uuid: UUID  # the package's UUID, whatever its type (the name is kept for existing callers)
    name: str
    sha256: str
    extension: str = "7z"
    location_uuid: UUID | None = None
    origin: str | None = None
    content_length: int | None = None
    package_type: PackageType = PackageType.aip
    related_package_uuid: UUID | None = None
    uncompressed: bool = False


def _existing_verdict(existing: Package | None, request: StoreRequest, location_uuid: UUID) -> Package | None:
    """Whether an upload may proceed given what is recorded: returns the package to answer with when it is
    already stored with this very content, None to go ahead, and raises when the upload conflicts."""
    if existing is None or existing.status == PackageStatus.failed:
        return None
    if existing.package_type != request.package_type:
        raise Conflict(f"{request.aip_uuid} is a {existing.package_type} package, not a {request.package_type}")
    if existing.uncompressed != request.uncompressed:
        raise Conflict(f"{request.aip_uuid} is already stored {'un' if existing.uncompressed else ''}compressed")
    if existing.status in (PackageStatus.stored, PackageStatus.verified):
        if existing.sha256 == request.sha256:
            return existing
        raise Conflict(f"Package {request.aip_uuid} is already stored with SHA-256 {existing.sha256}")
    if existing.status == PackageStatus.pending:
        if existing.sha256 == request.sha256 and existing.location_uuid == location_uuid:
            return None  # an interrupted or concurrent store of the same bytes: storing again completes it
        raise Conflict(f"Package {request.aip_uuid} is being stored with other content or in another location")
    raise Conflict(f"Package {request.aip_uuid} is {existing.status}")


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
        started = time.perf_counter()
        async for chunk in body:
            await incoming.write(chunk)
        received = time.perf_counter()
        await incoming.finish()
        log.info("received %d bytes of %s in %.2f s, synced to disk in %.2f s", incoming.size, request.aip_uuid,
                 received - started, time.perf_counter() - received)
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
    session: AsyncSession, request: StoreRequest, target: LocationTarget, incoming: IncomingFile | Received
) -> Package | None:
    """Record the package as pending (None), or return the record that makes this upload redundant."""
    repo = PackageRepository(session)
    existing = await repo.get(request.aip_uuid)
    answer = _existing_verdict(existing, request, target.uuid)
    if answer is not None:
        return answer
    fields: dict[str, Any] = {
        "name": request.name,
        "package_type": request.package_type,
        "status": PackageStatus.pending,
        "location_uuid": target.uuid,
        "current_path": request_path(request),
        "uncompressed": request.uncompressed,
        "related_package_uuid": request.related_package_uuid,
        "fixity_checked_at": None,
        "fixity_ok": None,
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


@dataclass(frozen=True)
class Received:
    size: int
    sha256: str


def request_path(request: StoreRequest) -> str:
    if request.uncompressed:
        return str(uuid_quad_path(request.aip_uuid) / f"{request.name}-{request.aip_uuid}")
    return package_path(request.name, request.aip_uuid, request.extension)


async def _record_pending_retrying(
    sessions: async_sessionmaker[AsyncSession],
    request: StoreRequest,
    target: LocationTarget,
    incoming: IncomingFile | Received,
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


async def _target(session: AsyncSession, request: StoreRequest, roots: AllowedRoots) -> LocationTarget:
    purpose = PURPOSE_OF[request.package_type]
    target = await location_target(session, request.location_uuid, purpose, roots)
    if target.purpose != purpose:
        raise Problem(422, "Wrong location", f"Location {target.uuid} is for {target.purpose}, not {purpose}")
    return target


async def _mark_stored(sessions: async_sessionmaker[AsyncSession], package_uuid: UUID, location_uuid: UUID,
                       size: int) -> PackageRead:
    """Pending -> stored, counted against the location and announced once, whoever gets there first."""
    async with unit_of_work(sessions) as session:
        packages = PackageRepository(session)
        first = await packages.mark_stored(package_uuid, utcnow())
        if first:
            await LocationRepository(session).add_used(location_uuid, size)
        package = await packages.get(package_uuid)
        assert package is not None
        if first:
            await domain_events.package_stored(session, package)
        return package_read(package)


async def store_aip(
    sessions: async_sessionmaker[AsyncSession], roots: AllowedRoots, request: StoreRequest, body: AsyncIterator[bytes]
) -> tuple[PackageRead, bool]:
    """Store the AIP streamed in `body`; returns (package, created). Idempotent for identical content."""
    check_name(request.name)
    check_extension(request.extension)
    async with unit_of_work(sessions) as session:
        target = await _target(session, request, roots)
        existing = await PackageRepository(session).get(request.aip_uuid)
        answer = _existing_verdict(existing, request, target.uuid)
        answer_read = package_read(answer) if answer is not None else None
    if answer_read is not None:
        # Already stored with these bytes: the retried upload is read to its end and dropped.
        await _drain(body)
        return answer_read, False
    if request.content_length is not None:
        _check_quota(target, request.content_length)

    incoming = await _receive(await target.open_backend(), request, body)
    try:
        _check_quota(target, incoming.size)  # a chunked upload announces no length up front
        answer_read = await _record_pending_retrying(sessions, request, target, incoming)
    except BaseException:
        await incoming.discard()
        raise
    if answer_read is not None:
        await incoming.discard()
        return answer_read, False

    current_path = request_path(request)
    try:
        await incoming.commit(current_path)
    except BaseException:
        await incoming.discard()
        with contextlib.suppress(Exception):
            async with unit_of_work(sessions) as session:
                await PackageRepository(session).mark_failed(request.aip_uuid)
        raise

    stored = await _mark_stored(sessions, request.aip_uuid, target.uuid, incoming.size)
    log.info("stored %s %s (%d bytes) at %s", request.package_type, request.aip_uuid, incoming.size, current_path)
    return stored, True


async def store_folder(
    sessions: async_sessionmaker[AsyncSession], roots: AllowedRoots, request: StoreRequest, body: AsyncIterator[bytes]
) -> tuple[PackageRead, bool]:
    """Store an uncompressed package sent as a tar stream: unpacked as it arrives, each file checked against
    the bag's manifests; `request.sha256`, when not empty, is checked against the tar stream itself.

    The package's `sha256` is then the SHA-256 of its payload manifest, which pins every payload file: the
    same bag sent again is the same package (for a folder that is no bag, the tar stream's SHA-256).
    """
    check_name(request.name)
    async with unit_of_work(sessions) as session:
        target = await _target(session, request, roots)
    if request.content_length is not None:
        _check_quota(target, request.content_length)
    backend = await target.open_backend()
    incoming = await backend.open_incoming_folder(str(request.aip_uuid))
    try:
        reader = BodyReader(body)
        try:
            unpacked = await anyio.to_thread.run_sync(unpack_tar, reader, incoming.staging)
        except (ArchiveError, tarfile.TarError, EOFError) as exc:
            raise Problem(422, "Invalid package", f"The tar stream cannot be unpacked: {exc}") from exc
        except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
            raise Problem(422, "Invalid package", f"The tar's members collide: {exc}") from exc
        if request.content_length is not None and unpacked.stream_size != request.content_length:
            raise Problem(400, "Incomplete upload",
                          f"Received {unpacked.stream_size} bytes of the {request.content_length} announced")
        if request.sha256 and unpacked.stream_sha256 != request.sha256:
            raise Problem(422, "Checksum mismatch",
                          f"The SHA-256 of the received tar is {unpacked.stream_sha256}, expected {request.sha256}")
        # An AIP must be a valid bag; a DIP or a backlog transfer is checked when it is one.
        if (unpacked.is_bag or request.package_type == PackageType.aip) and not unpacked.check.ok:
            raise Problem(422, "Invalid bag", "The bag does not match its manifests",
                          errors=bag_errors(unpacked.check))
        _check_quota(target, unpacked.payload_size)
        fingerprint = unpacked.manifest_sha256 if unpacked.is_bag else unpacked.stream_sha256
        request = replace(request, sha256=fingerprint)
        received = Received(size=unpacked.payload_size, sha256=fingerprint)
        answer_read = await _record_pending_retrying(sessions, request, target, received)
        if answer_read is not None:
            await incoming.discard()
            return answer_read, False
        current_path = request_path(request)
        try:
            await incoming.commit(current_path, unpacked.bag_root)
        except BaseException:
            with contextlib.suppress(Exception):
                async with unit_of_work(sessions) as session:
                    await PackageRepository(session).mark_failed(request.aip_uuid)
            raise
    except BaseException:
        incoming.discard_sync()  # no await: it must complete inside a cancelled task too
        raise
    stored = await _mark_stored(sessions, request.aip_uuid, target.uuid, received.size)
    log.info("stored uncompressed %s %s (%d bytes) at %s", request.package_type, request.aip_uuid, received.size,
             current_path)
    return stored, True


async def store_aip_from_path(
    sessions: async_sessionmaker[AsyncSession], roots: AllowedRoots, request: StoreRequest, source_path: str
) -> tuple[PackageRead, bool]:
    """Store a package file already on this machine, inside a currently-processing location: renamed into
    place when it is on the same filesystem (no bytes copied), else copied; its SHA-256 is checked either way."""
    check_name(request.name)
    check_extension(request.extension)
    if not PurePosixPath(source_path).is_absolute():
        raise Problem(422, "Invalid source", "The source path must be absolute")
    source = Path(await anyio.to_thread.run_sync(os.path.realpath, source_path))
    async with unit_of_work(sessions) as session:
        target = await _target(session, request, roots)
        existing = await PackageRepository(session).get(request.aip_uuid)
        answer = _existing_verdict(existing, request, target.uuid)
        if answer is not None:
            return package_read(answer), False
        processing = await LocationRepository(session).list(LocationPurpose.currently_processing)
        folders = [location.path for location in processing]
    # Only processing locations still inside the allowed roots count, or one made at / would let anything in.
    processing_roots = await anyio.to_thread.run_sync(
        lambda: [os.path.realpath(folder) for folder in folders if roots.allows(folder)]
    )
    if not any(str(source).startswith(root.rstrip(os.sep) + os.sep) for root in processing_roots):
        raise Problem(422, "Invalid source", "The source must lie inside a currently-processing location")
    try:
        size = await anyio.to_thread.run_sync(lambda: source.stat().st_size if source.is_file() else -1)
    except OSError:
        size = -1
    if size < 0:
        raise Problem(422, "Invalid source", f"{source_path} is not a file")
    _check_quota(target, size)
    received = Received(size=size, sha256=request.sha256)
    answer_read = await _record_pending_retrying(sessions, request, target, received)
    if answer_read is not None:
        return answer_read, False
    current_path = request_path(request)
    try:
        moved = await (await target.open_backend()).move_in(source, current_path, request.sha256)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            async with unit_of_work(sessions) as session:
                await PackageRepository(session).mark_failed(request.aip_uuid)
        if isinstance(exc, ChecksumMismatch):
            raise Problem(422, "Checksum mismatch",
                          f"The SHA-256 of {source_path} is {exc.actual}, expected {request.sha256}") from exc
        raise
    stored = await _mark_stored(sessions, request.aip_uuid, target.uuid, size)
    log.info("%s %s %s (%d bytes) to %s", "moved" if moved else "copied", request.package_type, request.aip_uuid,
             size, current_path)
    return stored, True


def bag_errors(check: BagCheck) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for kind, problems in (("missing", check.missing), ("changed", check.changed), ("untracked", check.untracked)):
        found.extend({"kind": kind, **problem.model_dump()} for problem in problems)
    found.extend({"kind": "error", "detail": error} for error in check.errors)
    return found


async def _get_aip(session: AsyncSession, aip_uuid: UUID, package_type: PackageType = PackageType.aip) -> Package:
    package = await PackageRepository(session).get(aip_uuid)
    if package is None or package.package_type != package_type:
        raise NotFound(package_type.value.upper(), aip_uuid)
    return package


async def read_aip(
    session: AsyncSession, aip_uuid: UUID, package_type: PackageType = PackageType.aip
) -> PackageRead:
    return package_read(await _get_aip(session, aip_uuid, package_type))


async def list_aips(
    session: AsyncSession, status: PackageStatus | None, page: PageParams, package_type: PackageType = PackageType.aip,
    related_to: UUID | None = None,
) -> Page[PackageRead]:
    items, total = await PackageRepository(session).page(package_type, status, page.limit, page.offset,
                                                          related_to)
    return Page[PackageRead].of([package_read(item) for item in items], total, page)


READABLE = (PackageStatus.stored, PackageStatus.verified, PackageStatus.failed, PackageStatus.deletion_requested)


@dataclass(frozen=True)
class Place:
    """A package's record and where its bytes are, detached from the session that found them."""

    package: PackageRead
    backend: SpaceBackend
    location: LocationTarget

    @property
    def format(self) -> PackageFormat:
        return package_format(self.package.current_path, self.package.uncompressed)

    @property
    def filename(self) -> str:
        return self.package.current_path.rsplit("/", 1)[-1]

    def local_path(self) -> Path:
        return self.backend.local_path(self.package.current_path)


async def place_of(
    session: AsyncSession, roots: AllowedRoots, package_uuid: UUID, package_type: PackageType | None = PackageType.aip
) -> Place:
    package = await PackageRepository(session).get(package_uuid)
    if package is None or (package_type is not None and package.package_type != package_type):
        raise NotFound((package_type or "package").upper(), package_uuid)
    # The purpose only matters when no location is named; this one always is.
    target = await location_target(session, package.location_uuid, LocationPurpose.aip_storage, roots)
    return Place(package=package_read(package), backend=await target.open_backend(), location=target)


async def readable_place(
    sessions: async_sessionmaker[AsyncSession], roots: AllowedRoots, package_uuid: UUID,
    package_type: PackageType | None = PackageType.aip,
) -> Place:
    async with unit_of_work(sessions) as session:
        place = await place_of(session, roots, package_uuid, package_type)
    if place.package.status not in READABLE:
        what = package_type.value.upper() if package_type else "Package"
        raise Conflict(f"{what} {package_uuid} is {place.package.status}, not stored")
    return place


async def read_package(session: AsyncSession, package_uuid: UUID) -> PackageRead:
    package = await PackageRepository(session).get(package_uuid)
    if package is None:
        raise NotFound("Package", package_uuid)
    return package_read(package)


@dataclass(frozen=True)
class DownloadSource:
    backend: SpaceBackend
    relative_path: str
    size: int
    sha256: str | None
    filename: str
    tar: TarPlan | None = None


async def download_source(
    sessions: async_sessionmaker[AsyncSession], roots: AllowedRoots, aip_uuid: UUID,
    package_type: PackageType | None = PackageType.aip,
) -> DownloadSource:
    """Where a stored package's bytes are; the unit of work ends before any of them is read."""
    place = await readable_place(sessions, roots, aip_uuid, package_type)
    relative_path = place.package.current_path
    if place.package.uncompressed:
        folder = place.local_path()
        try:
            plan = await anyio.to_thread.run_sync(plan_tar, folder, place.filename)
        except (FileNotFoundError, ArchiveError) as exc:
            log.error("the folder of stored package %s is unreadable at %s: %s", aip_uuid, relative_path, exc)
            raise Problem(500, "Package missing", f"The folder of package {aip_uuid} cannot be read") from exc
        return DownloadSource(place.backend, relative_path, plan.size, None, place.filename + ".tar", plan)
    stat = await place.backend.stat(relative_path)
    if stat is None:
        log.error("the file of stored package %s is missing at %s", aip_uuid, relative_path)
        raise Problem(500, "Package file missing", f"The file of package {aip_uuid} is missing from its location")
    return DownloadSource(
        backend=place.backend,
        relative_path=relative_path,
        size=stat.size,
        sha256=place.package.sha256,
        filename=place.filename,
    )


async def iterate_in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A blocking iterator consumed from worker threads, one chunk per hop; closed whatever happens."""
    done = object()
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, done)
            if chunk is done:
                return
            assert isinstance(chunk, bytes)
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await anyio.to_thread.run_sync(close)


@dataclass(frozen=True)
class ExtractedFile:
    filename: str
    size: int
    chunks: AsyncIterator[bytes]


async def extract_file(
    sessions: async_sessionmaker[AsyncSession], roots: AllowedRoots, seven_zip: str, aip_uuid: UUID, path: str
) -> ExtractedFile:
    """One file of a stored AIP (path relative to the bag, e.g. `data/METS.<uuid>.xml`), streamed out of the
    package without unpacking the rest: read in place for a folder, `7z x -so` for a 7z, a tar streamed up
    to the member for a (compressed) tar."""
    place = await readable_place(sessions, roots, aip_uuid)
    try:
        size, chunks = await anyio.to_thread.run_sync(
            extract_member, place.format, place.local_path(), seven_zip, path
        )
    except FileNotFoundError as exc:
        raise Problem(404, "Not found", f"AIP {aip_uuid} has no file {path!r}") from exc
    except ArchiveError as exc:
        raise Problem(422, "Cannot extract", str(exc)) from exc
    return ExtractedFile(filename=path.rsplit("/", 1)[-1], size=size, chunks=iterate_in_thread(chunks))


# -- pointer files ------------------------------------------------------------------------------------------------

POINTER_MAX_BYTES = 4 * 1024 * 1024


def pointer_path_of(package: PackageRead) -> str:
    """`pointer.<uuid>.xml` in the folder of the package file, as Archivematica's storage service places it."""
    folder = PurePosixPath(package.current_path).parent
    return (folder / f"pointer.{package.uuid}.xml").as_posix()


async def store_pointer(
    sessions: async_sessionmaker[AsyncSession], roots: AllowedRoots, aip_uuid: UUID, xml: bytes
) -> PackageRead:
    """Write the pointer file beside the compressed AIP and record it on the package; storing it again replaces
    it (the file is moved into place whole, so a reader never sees half of one)."""
    if len(xml) > POINTER_MAX_BYTES:
        raise Problem(413, "Pointer file too large", f"A pointer file is at most {POINTER_MAX_BYTES} bytes")
    place = await readable_place(sessions, roots, aip_uuid)
    if place.package.uncompressed:
        raise Conflict(f"AIP {aip_uuid} is uncompressed: an uncompressed AIP has no pointer file")
    relative_path = pointer_path_of(place.package)
    incoming = await place.backend.open_incoming(f"pointer-{aip_uuid}")
    try:
        await incoming.write(xml)
        await incoming.finish()
        await incoming.commit(relative_path)
    except BaseException:
        await incoming.discard()
        raise
    async with unit_of_work(sessions) as session:
        await PackageRepository(session).set_fields(aip_uuid, pointer_path=relative_path)
        return await read_aip(session, aip_uuid)


async def pointer_source(
    sessions: async_sessionmaker[AsyncSession], roots: AllowedRoots, aip_uuid: UUID
) -> DownloadSource:
    """Where the stored pointer file of a compressed AIP is; an AIP without one (uncompressed) is not found."""
    place = await readable_place(sessions, roots, aip_uuid)
    relative_path = place.package.pointer_path
    stat = await place.backend.stat(relative_path) if relative_path else None
    if relative_path is None or stat is None:
        why = "uncompressed AIPs have none" if place.package.uncompressed else "none is stored"
        raise NotFound(f"Pointer file ({why}) of AIP", aip_uuid)
    return DownloadSource(place.backend, relative_path, stat.size, None, PurePosixPath(relative_path).name)
