"""Resumable uploads: bytes appended at the right offset, verified on completion, then received as an upload.

The session's bytes are `<processing>/uploads/<uuid>.part`; its length is the offset, so whatever reached the
disk before a connection broke counts, and nothing else needs recording per chunk. One writer per session at a
time (a lock per session in this process); a chunk overlapping bytes already written skips them, so re-sending
a range is harmless.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.ingest import IngestClient
from clients.transfer.schemas import TransferRead, UploadSessionCreate, UploadSessionRead
from servicekit.db import unit_of_work, utcnow
from servicekit.ids import new_id
from servicekit.problems import Conflict, NotFound, Problem
from services.transfer.settings import TransferSettings
from services.transfer.transfers import archives
from services.transfer.transfers import service as transfers
from services.transfer.transfers.leases import Leases
from services.transfer.uploads import digests
from services.transfer.uploads.models import UploadSession
from services.transfer.uploads.repository import UploadSessionRepository

Sessions = async_sessionmaker[AsyncSession]
WRITE_CHUNK = 1024 * 1024
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_locks: dict[UUID, asyncio.Lock] = {}


def part_path(settings: TransferSettings, upload_uuid: UUID) -> Path:
    return settings.processing_dir / "uploads" / f"{upload_uuid}.part"


def current_offset(settings: TransferSettings, upload_uuid: UUID) -> int:
    try:
        return os.stat(part_path(settings, upload_uuid)).st_size
    except FileNotFoundError:
        return 0


async def session_read(settings: TransferSettings, upload: UploadSession) -> UploadSessionRead:
    offset = await asyncio.to_thread(current_offset, settings, upload.uuid)
    return UploadSessionRead.model_validate({**upload.model_dump(), "offset": offset})


async def create_upload_session(
    session: AsyncSession, settings: TransferSettings, ingest: IngestClient, body: UploadSessionCreate, caller: str
) -> UploadSessionRead:
    if body.size > settings.max_upload_bytes:
        raise transfers.upload_too_large(settings.max_upload_bytes)
    await transfers.require_processing_config(ingest, body.processing_config)
    now = utcnow()
    upload = UploadSession(
        uuid=new_id(), name=body.name, size=body.size, sha256=body.sha256.lower(), archive_format=body.archive_format,
        filename=body.filename, transfer_type=body.transfer_type, auto_approve=body.auto_approve,
        processing_config=body.processing_config, created_by=caller, created_at=now, updated_at=now,
    )
    part = part_path(settings, upload.uuid)
    await asyncio.to_thread(part.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(part.touch, exist_ok=False)
    UploadSessionRepository(session).add(upload)
    return await session_read(settings, upload)


async def get_upload(session: AsyncSession, upload_uuid: UUID) -> UploadSession:
    upload = await UploadSessionRepository(session).get(upload_uuid)
    if upload is None:
        raise NotFound("Upload session", upload_uuid)
    return upload


async def read_upload_session(
    session: AsyncSession, settings: TransferSettings, upload_uuid: UUID
) -> UploadSessionRead:
    return await session_read(settings, await get_upload(session, upload_uuid))


def chunk_start(content_range: str | None, offset: int | None, size: int) -> int:
    """Where the chunk starts: `Content-Range: bytes a-b/total` or the `offset` query parameter."""
    if content_range is not None:
        match = CONTENT_RANGE.match(content_range.strip())
        if match is None:
            raise Problem(400, "Invalid Content-Range", f"Expected 'bytes <first>-<last>/<total>', got "
                          f"'{content_range}'")
        first, last, total = int(match.group(1)), int(match.group(2)), match.group(3)
        if total != "*" and int(total) != size:
            raise Problem(400, "Invalid Content-Range", f"The total {total} is not the session's size {size}")
        if last < first or last >= size:
            raise Problem(400, "Invalid Content-Range", f"Bytes {first}-{last} are outside 0-{size - 1}")
        return first
    if offset is None:
        raise Problem(400, "Missing offset", "Send Content-Range: bytes <first>-<last>/<total> or ?offset=")
    return offset


async def write_chunk(
    sessions: Sessions, settings: TransferSettings, upload_uuid: UUID, chunks: AsyncIterator[bytes],
    content_range: str | None, offset: int | None,
) -> UploadSessionRead:
    async with unit_of_work(sessions) as session:
        upload = await get_upload(session, upload_uuid)
        if upload.transfer_uuid is not None:
            raise Conflict(f"Upload {upload_uuid} is complete (transfer {upload.transfer_uuid})")
        size = upload.size
    start = chunk_start(content_range, offset, size)
    lock = _locks.setdefault(upload_uuid, asyncio.Lock())
    if lock.locked():
        raise Conflict(f"Another chunk of upload {upload_uuid} is being written; retry once it is done")
    async with lock:
        part = part_path(settings, upload_uuid)
        have = await asyncio.to_thread(current_offset, settings, upload_uuid)
        if start > have:
            raise Conflict(f"The chunk starts at {start} but only {have} bytes were received; send from {have}")
        running = digests.for_append(upload_uuid, have)
        try:
            await append_chunks(part, chunks, running, skip=have - start, room=size - have)
        finally:
            digests.settle(upload_uuid, await asyncio.to_thread(current_offset, settings, upload_uuid))
    async with unit_of_work(sessions) as session:
        upload = await get_upload(session, upload_uuid)
        upload.updated_at = utcnow()
        return await session_read(settings, upload)


async def append_chunks(
    part: Path, chunks: AsyncIterator[bytes], running: digests.RunningDigest, *, skip: int, room: int
) -> None:
    """Append the body after skipping `skip` bytes already on disk, hashing it into `running` as it is written;
    written as it comes, so a broken connection keeps what arrived. At most `room` bytes fit."""
    handle = await asyncio.to_thread(open, part, "ab")
    buffer = bytearray()
    try:
        async for chunk in chunks:
            if skip:
                dropped = min(skip, len(chunk))
                chunk = chunk[dropped:]
                skip -= dropped
            if len(chunk) > room:
                raise Problem(413, "Chunk beyond the declared size", "The upload would exceed its declared size")
            room -= len(chunk)
            buffer += chunk
            if len(buffer) >= WRITE_CHUNK:
                await asyncio.to_thread(running.write, handle, bytes(buffer))
                buffer.clear()
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise transfers.disk_full("receiving a chunk") from exc
        raise
    finally:
        # Bytes that arrived count even when the connection broke (the client resumes after them).
        try:
            if buffer:
                running.write(handle, bytes(buffer))
        finally:
            handle.close()


def sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(WRITE_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


async def complete_upload(
    sessions: Sessions, settings: TransferSettings, ingest: IngestClient, leases: Leases, upload_uuid: UUID
) -> TransferRead:
    """Verify size and SHA-256, then receive the archive as a one-shot upload would."""
    async with unit_of_work(sessions) as session:
        upload = await get_upload(session, upload_uuid)
        if upload.transfer_uuid is not None:
            raise Conflict(f"Upload {upload_uuid} was completed already: transfer {upload.transfer_uuid}")
        details = upload.model_dump()
    # Again here: the configuration may have been deleted while the bytes were arriving.
    await transfers.require_processing_config(ingest, details["processing_config"])
    lock = _locks.setdefault(upload_uuid, asyncio.Lock())
    if lock.locked():
        raise Conflict(f"A chunk of upload {upload_uuid} is being written; complete it once that is done")
    async with lock:
        part = part_path(settings, upload_uuid)
        have = await asyncio.to_thread(current_offset, settings, upload_uuid)
        if have != details["size"]:
            raise Conflict(f"Upload {upload_uuid} has {have} of {details['size']} bytes; send the rest first")
        # Hashed as its chunks arrived, when this process saw them all; else read again.
        actual = digests.take(upload_uuid, have) or await asyncio.to_thread(sha256_of, part)
        if actual != details["sha256"]:
            # The bytes are wrong somewhere: start again from zero rather than keep a corrupt prefix.
            await asyncio.to_thread(part.unlink, missing_ok=True)
            await asyncio.to_thread(part.touch)
            raise Problem(
                422, "Checksum mismatch",
                f"The upload's SHA-256 is {actual} but {details['sha256']} was expected; its bytes were "
                "discarded, send it again from offset 0",
                errors=[{"expected": details["sha256"], "actual": actual}],
            )
        spool = part.with_suffix(".upload")
        await asyncio.to_thread(os.rename, part, spool)
        try:
            archive_format = details["archive_format"] or await asyncio.to_thread(archives.detect_format, spool)
            options = transfers.ArchiveOptions(
                name=details["name"], archive_format=archive_format, filename=details["filename"],
                caller=details["created_by"], transfer_type=details["transfer_type"],
                auto_approve=details["auto_approve"], processing_config=details["processing_config"],
            )
            transfer = await transfers.receive_spooled(sessions, settings, ingest, leases, spool=spool,
                                                       options=options)
        except BaseException:
            # The verified bytes stay, so completing can be tried again (e.g. once the name is free).
            await asyncio.to_thread(os.rename, spool, part)
            raise
        finally:
            _locks.pop(upload_uuid, None)
        await asyncio.to_thread(spool.unlink, missing_ok=True)
    async with unit_of_work(sessions) as session:
        upload = await get_upload(session, upload_uuid)
        upload.transfer_uuid = transfer.uuid
        upload.updated_at = utcnow()
    return transfer


async def delete_upload_session(sessions: Sessions, settings: TransferSettings, upload_uuid: UUID) -> None:
    lock = _locks.get(upload_uuid)
    if lock is not None and lock.locked():
        raise Conflict(f"Upload {upload_uuid} is being written or completed")
    async with unit_of_work(sessions) as session:
        repository = UploadSessionRepository(session)
        upload = await repository.get_for_update(upload_uuid)
        if upload is None:
            raise NotFound("Upload session", upload_uuid)
        await repository.delete(upload)
    _locks.pop(upload_uuid, None)
    digests.forget(upload_uuid)
    await asyncio.to_thread(part_path(settings, upload_uuid).unlink, missing_ok=True)
