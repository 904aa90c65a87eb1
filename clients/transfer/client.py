"""Client of the transfer (intake) service."""

from __future__ import annotations

import asyncio
import hashlib
import tarfile
import threading
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Future
from pathlib import Path

import httpx

from clients.ingest.schemas import DEFAULT_PROCESSING_CONFIG
from clients.transfer.schemas import (
    ArchiveFormat,
    IngestStatusReport,
    TransferDecision,
    TransferFromLocation,
    TransferRead,
    TransferStatus,
    TransferType,
    TransferUpdate,
    UploadSessionCreate,
    UploadSessionRead,
)
from servicekit.http import ServiceClient
from servicekit.pagination import Page

CHUNK_SIZE = 1024 * 1024
# Placement (copying or extracting a large transfer) happens before the answer, so reads must not time out.
LONG_RUNNING = httpx.Timeout(None, connect=5.0)


class TransferClient(ServiceClient):
    service = "transfer"

    async def report_ingest_status(self, transfer_uuid: uuid.UUID, report: IngestStatusReport) -> TransferRead:
        """Tell the transfer where its ingest stands (internal; the ingest service sends it until it succeeds)."""
        response = await self.request(
            "PUT", f"/transfers/{transfer_uuid}/ingest-status", json=report.model_dump(mode="json"), idempotent=True,
        )
        return TransferRead.model_validate(response.json())

    async def create_transfer_from_location(self, body: TransferFromLocation) -> TransferRead:
        response = await self.request(
            "POST", "/transfers", json=body.model_dump(mode="json"), timeout=LONG_RUNNING
        )
        return TransferRead.model_validate(response.json())

    async def upload_transfer(
        self,
        name: str,
        source: Path | AsyncIterator[bytes],
        archive_format: ArchiveFormat | None = None,
        *,
        filename: str | None = None,
        transfer_type: TransferType | None = None,
        auto_approve: bool = True,
        processing_config: str = DEFAULT_PROCESSING_CONFIG,
    ) -> TransferRead:
        """Upload an archive file, a folder (sent as a tar stream of the folder), or a stream of archive bytes.

        Nothing is held in memory; the format is detected by the service when not given. `processing_config` names
        the ingest service's processing configuration (an unknown one is refused before the service reads
        the bytes).
        """
        headers = {"Content-Type": "application/octet-stream"}
        content: AsyncIterator[bytes]
        if isinstance(source, Path):
            filename = filename or source.name
            if await asyncio.to_thread(source.is_dir):
                content = tar_stream(source)
                archive_format = ArchiveFormat.tar
            else:
                size = (await asyncio.to_thread(source.stat)).st_size
                headers["Content-Length"] = str(size)
                content = file_stream(source)
        else:
            content = source
        params: dict[str, str] = {"name": name, "processing_config": processing_config}
        if archive_format is not None:
            params["archive_format"] = archive_format.value
        if filename:
            params["filename"] = filename
        if transfer_type is not None:
            params["transfer_type"] = transfer_type.value
        if not auto_approve:
            params["auto_approve"] = "false"
        response = await self.request(
            "POST", "/transfers/upload", params=params, content=content, headers=headers, timeout=LONG_RUNNING
        )
        return TransferRead.model_validate(response.json())

    async def get_transfer(self, transfer_uuid: uuid.UUID) -> TransferRead:
        response = await self.request("GET", f"/transfers/{transfer_uuid}")
        return TransferRead.model_validate(response.json())

    async def list_transfers(
        self, status: TransferStatus | None = None, *, limit: int = 100, offset: int = 0,
        include_hidden: bool = False, name: str | None = None,
    ) -> Page[TransferRead]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status.value
        if include_hidden:
            params["include_hidden"] = "true"
        if name is not None:
            params["name"] = name
        response = await self.request("GET", "/transfers", params=params)
        return Page[TransferRead].model_validate(response.json())

    async def approve_transfer(self, transfer_uuid: uuid.UUID) -> TransferRead:
        response = await self.request("POST", f"/transfers/{transfer_uuid}/approve", timeout=LONG_RUNNING)
        return TransferRead.model_validate(response.json())

    async def reject_transfer(self, transfer_uuid: uuid.UUID, reason: str | None = None) -> TransferRead:
        body = TransferDecision(reason=reason)
        response = await self.request(
            "POST", f"/transfers/{transfer_uuid}/reject", json=body.model_dump(mode="json"), timeout=LONG_RUNNING
        )
        return TransferRead.model_validate(response.json())

    async def update_transfer(self, transfer_uuid: uuid.UUID, body: TransferUpdate) -> TransferRead:
        response = await self.request(
            "PATCH", f"/transfers/{transfer_uuid}", json=body.model_dump(mode="json", exclude_none=True)
        )
        return TransferRead.model_validate(response.json())

    async def hide_transfer(self, transfer_uuid: uuid.UUID, hidden: bool = True) -> TransferRead:
        return await self.update_transfer(transfer_uuid, TransferUpdate(hidden=hidden))

    async def delete_transfer(self, transfer_uuid: uuid.UUID) -> None:
        await self.request("DELETE", f"/transfers/{transfer_uuid}")

    # --- resumable uploads -----------------------------------------------------------------------------------

    async def create_upload_session(self, body: UploadSessionCreate) -> UploadSessionRead:
        response = await self.request("POST", "/uploads", json=body.model_dump(mode="json"))
        return UploadSessionRead.model_validate(response.json())

    async def get_upload_session(self, upload_uuid: uuid.UUID) -> UploadSessionRead:
        response = await self.request("GET", f"/uploads/{upload_uuid}")
        return UploadSessionRead.model_validate(response.json())

    async def put_upload_chunk(
        self, upload_uuid: uuid.UUID, start: int, content: bytes | AsyncIterator[bytes], *, length: int, total: int
    ) -> UploadSessionRead:
        """Send `length` bytes starting at `start` (Content-Range); not retried here, since a stream is spent."""
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes {start}-{start + length - 1}/{total}",
            "Content-Length": str(length),
        }
        response = await self.request(
            "PUT", f"/uploads/{upload_uuid}", content=content, headers=headers, idempotent=False,
            timeout=LONG_RUNNING,
        )
        return UploadSessionRead.model_validate(response.json())

    async def complete_upload_session(self, upload_uuid: uuid.UUID) -> TransferRead:
        response = await self.request("POST", f"/uploads/{upload_uuid}/complete", timeout=LONG_RUNNING)
        return TransferRead.model_validate(response.json())

    async def delete_upload_session(self, upload_uuid: uuid.UUID) -> None:
        await self.request("DELETE", f"/uploads/{upload_uuid}")

    async def resume_upload(self, path: Path, session: UploadSessionRead | uuid.UUID) -> TransferRead:
        """Send the rest of `path` from where the server's copy ends, then complete (the server checks SHA-256)."""
        upload_uuid = session.uuid if isinstance(session, UploadSessionRead) else session
        current = await self.get_upload_session(upload_uuid)
        if current.offset < current.size:
            await self.put_upload_chunk(
                upload_uuid, current.offset, file_stream(path, start=current.offset),
                length=current.size - current.offset, total=current.size,
            )
        return await self.complete_upload_session(upload_uuid)

    async def upload_resumable(
        self, name: str, path: Path, archive_format: ArchiveFormat | None = None, *,
        transfer_type: TransferType | None = None, auto_approve: bool = True,
        processing_config: str = DEFAULT_PROCESSING_CONFIG,
    ) -> TransferRead:
        """Open a session for the archive `path` (its SHA-256 computed here, streamed) and send it whole."""
        size = (await asyncio.to_thread(path.stat)).st_size
        digest = await asyncio.to_thread(sha256_file, path)
        session = await self.create_upload_session(UploadSessionCreate(
            name=name, size=size, sha256=digest, archive_format=archive_format, filename=path.name,
            transfer_type=transfer_type, auto_approve=auto_approve, processing_config=processing_config,
        ))
        return await self.resume_upload(path, session)


def sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK_SIZE):
            hasher.update(chunk)
    return hasher.hexdigest()


async def file_stream(path: Path, chunk_size: int = CHUNK_SIZE, *, start: int = 0) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        if start:
            await asyncio.to_thread(handle.seek, start)
        while chunk := await asyncio.to_thread(handle.read, chunk_size):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


class _StopWriting(Exception):
    pass


class _QueueWriter:
    """A write-only file for tarfile that hands 1 MiB chunks to the event loop, waiting while the queue is full."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None], stop: threading.Event):
        self.loop = loop
        self.queue = queue
        self.stop = stop
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        if len(self.buffer) >= CHUNK_SIZE:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buffer:
            self._put(bytes(self.buffer))
            self.buffer.clear()

    def _put(self, item: bytes | None) -> None:
        if self.stop.is_set():
            raise _StopWriting
        asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop).result()


def _write_tar(folder: Path, writer: _QueueWriter) -> None:
    # Entries are prefixed with the folder's name, so the service takes that folder as the transfer root.
    # Links are written as links (never followed); the service refuses them with a clear message.
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        tar.add(folder, arcname=folder.name, recursive=True)
    writer.flush()
    writer._put(None)


async def tar_stream(folder: Path) -> AsyncIterator[bytes]:
    """A folder as an uncompressed tar stream, produced by a thread while the bytes are being sent."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)
    stop = threading.Event()
    writer = _QueueWriter(loop, queue, stop)
    producer: Future[None] = Future()

    def run() -> None:
        try:
            _write_tar(folder, writer)
            producer.set_result(None)
        except _StopWriting:
            producer.set_result(None)
        except BaseException as exc:
            producer.set_exception(exc)
            # Wake the consumer, which would otherwise wait forever for the end marker.
            if not stop.is_set():
                asyncio.run_coroutine_threadsafe(queue.put(None), loop)

    thread = threading.Thread(target=run, name="amber-tar-stream", daemon=True)
    thread.start()
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
    finally:
        stop.set()
        # Unblock a producer waiting on a full queue so it notices the stop and ends.
        while not queue.empty():
            queue.get_nowait()
        await asyncio.wrap_future(producer)
