"""Sending material to the gateway: a folder as a tar stream made on the fly, an archive as it is."""

from __future__ import annotations

import asyncio
import tarfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path

CHUNK = 1024 * 1024
ARCHIVE_SUFFIXES = {".zip": "zip", ".tar": "tar", ".tgz": "tar.gz", ".tar.gz": "tar.gz"}


def archive_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, kind in ARCHIVE_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    return None


class _QueueWriter:
    """A file-like sink for tarfile that hands fixed-size chunks to the event loop, with back-pressure."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | BaseException | None]) -> None:
        self.loop, self.queue, self.buffer = loop, queue, bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= CHUNK:
            self._put(bytes(self.buffer[:CHUNK]))
            del self.buffer[:CHUNK]
        return len(data)

    def flush_all(self) -> None:
        if self.buffer:
            self._put(bytes(self.buffer))
            self.buffer.clear()

    def _put(self, item: bytes | BaseException | None) -> None:
        asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop).result()


async def tar_stream(folder: Path, top: str) -> AsyncIterator[bytes]:
    """The folder as an uncompressed tar under one top directory, produced while it is sent (no temp copy)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=8)
    writer = _QueueWriter(loop, queue)

    def produce() -> None:
        try:
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                tar.add(folder, arcname=top, recursive=True)
            writer.flush_all()
            writer._put(None)
        except BaseException as exc:  # hand any failure to the consumer instead of losing it in the thread
            writer._put(exc)

    thread = threading.Thread(target=produce, name="tar-stream", daemon=True)
    thread.start()
    while True:
        item = await queue.get()
        if item is None:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()


async def file_stream(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
