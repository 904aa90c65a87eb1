"""Upload bodies, under the upload limit: spooled to a file in blocks of about a MiB, or piped chunk by chunk
into an extraction that runs while the bytes arrive."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiofiles

from servicekit.problems import Problem

BLOCK = 1024 * 1024


def upload_too_large(limit: int) -> Problem:
    return Problem(413, "Upload too large", f"Uploads are limited to {limit} bytes")


async def limited(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The body's chunks as they come; 413 as soon as more than `limit` bytes have arrived."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise upload_too_large(limit)
        yield chunk


async def blocks(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The body in blocks of about `BLOCK` bytes (fewer, larger writes), under `limit` as `limited`."""
    buffer = bytearray()
    async for chunk in limited(chunks, limit):
        buffer += chunk
        if len(buffer) >= BLOCK:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


async def read_head(chunks: AsyncIterator[bytes], size: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """The body's first `size` bytes (fewer if it is shorter), and the whole body again, those bytes included."""
    head = bytearray()
    while len(head) < size:
        try:
            head += await anext(chunks)
        except StopAsyncIteration:
            break
    first = bytes(head)

    async def whole() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return first[:size], whole()


async def spool(chunks: AsyncIterator[bytes], path: Path, limit: int) -> None:
    """Stream the body to the new file `path`, never holding more than about a MiB of it in memory."""
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    async with aiofiles.open(path, "xb") as writer:
        async for block in blocks(chunks, limit):
            await writer.write(block)


def open_pipe() -> tuple[int, int]:
    """A pipe whose write end the event loop writes without blocking; about `BLOCK` bytes fit in it."""
    read_fd, write_fd = os.pipe()
    # Linux lets a pipe grow up to /proc/sys/fs/pipe-max-size (1 MiB by default); elsewhere it keeps its size.
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, BLOCK)
    os.set_blocking(write_fd, False)
    return read_fd, write_fd


async def pipe_into(chunks: AsyncIterator[bytes], fd: int, limit: int) -> None:
    """Write the body into the pipe `fd` (from `open_pipe`) chunk by chunk as it arrives, then close it: its
    reader sees the end of the upload, or an early end when the body broke off or passed the limit."""
    loop = asyncio.get_running_loop()
    try:
        async for chunk in limited(chunks, limit):
            view = memoryview(chunk)
            while view:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    await writable(loop, fd)
    finally:
        os.close(fd)


async def writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


async def sender_failure(piping: asyncio.Task[None]) -> BaseException | None:
    """Why the body stopped reaching the pipe (too large, the connection broke), once `piping` has ended; None when
    it all arrived, or when the reader stopped reading first (its own error then tells why)."""
    if not piping.done():
        piping.cancel()
    await asyncio.wait([piping])
    if piping.cancelled():
        return None
    failure = piping.exception()
    return None if isinstance(failure, BrokenPipeError) else failure
