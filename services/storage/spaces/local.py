"""The local filesystem space: a location is a folder, packages are files in it."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import anyio.to_thread

from services.storage.spaces.backend import (
    ChecksumMismatch,
    FolderEntry,
    IncomingFile,
    NotAFolder,
    ObjectStat,
    PathNotFound,
    UnsafePath,
)

# Uploads are staged inside the location so the final rename never crosses filesystems.
INCOMING_DIR = ".incoming"
# Scratch space of long operations (spooled tag files of a fixity check); never listed, never counted.
WORK_DIR = ".work"
HIDDEN = (INCOMING_DIR, WORK_DIR)
# Disk writes go through a worker thread; batching small network chunks keeps the thread hops few.
WRITE_BATCH = 4 * 1024 * 1024
IN_FLIGHT = 4
READ_CHUNK = 1024 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalIncomingFile:
    """Received bytes are batched; each batch is written (at its own offset) and hashed (in order) by worker
    threads while the next batches arrive. Writing and hashing run side by side, so a disk that throttles
    writes never stalls the digest, and a few batches in flight absorb the disk's hiccups without letting
    memory grow: at most IN_FLIGHT batches are held."""

    def __init__(self, root: Path, temp_path: Path, handle: BinaryIO) -> None:
        self._root = root
        self._temp_path = temp_path
        self._handle: BinaryIO | None = handle
        self._hash = hashlib.sha256()
        self._size = 0
        self._written = 0
        self._buffer = bytearray()
        self._writes: collections.deque[asyncio.Future[None]] = collections.deque()
        self._last_hash: asyncio.Future[None] | None = None

    @property
    def size(self) -> int:
        return self._size

    @property
    def sha256(self) -> str:
        if self._buffer or self._writes or self._last_hash is not None:
            raise RuntimeError("finish() the file before reading its digest")
        return self._hash.hexdigest()

    def _write_at(self, data: bytes | bytearray, offset: int) -> None:
        assert self._handle is not None
        fd, view = self._handle.fileno(), memoryview(data)
        while view:
            done = os.pwrite(fd, view, offset)
            view, offset = view[done:], offset + done

    async def _hash_after(self, previous: asyncio.Future[None] | None, data: bytes | bytearray) -> None:
        if previous is not None:
            await previous
        # Large updates release the GIL, so hashing leaves the event loop free.
        await anyio.to_thread.run_sync(self._hash.update, data)

    async def _flush(self) -> None:
        while len(self._writes) >= IN_FLIGHT:
            await self._writes.popleft()
        if self._buffer:
            batch, self._buffer = self._buffer, bytearray()
            offset, self._written = self._written, self._written + len(batch)
            self._writes.append(asyncio.ensure_future(anyio.to_thread.run_sync(self._write_at, batch, offset)))
            self._last_hash = asyncio.ensure_future(self._hash_after(self._last_hash, batch))

    async def _drain(self) -> None:
        while self._writes:
            await self._writes.popleft()
        if self._last_hash is not None:
            last, self._last_hash = self._last_hash, None
            await last

    async def write(self, data: bytes) -> None:
        if self._handle is None:
            raise RuntimeError("the incoming file was already committed or discarded")
        self._buffer += data
        self._size += len(data)
        if len(self._buffer) >= WRITE_BATCH:
            await self._flush()

    async def finish(self) -> None:
        await self._flush()
        await self._drain()
        handle = self._handle
        assert handle is not None
        await anyio.to_thread.run_sync(os.fsync, handle.fileno())

    async def commit(self, relative_path: str) -> None:
        handle = self._handle
        assert handle is not None and not self._buffer

        def sync() -> None:
            target = _inside(self._root, relative_path)
            handle.close()
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._temp_path, target)
            # The rename is only durable once the folder holding the new entry is synced.
            _fsync_dir(target.parent)

        await anyio.to_thread.run_sync(sync)
        self._handle = None

    async def discard(self) -> None:
        self._buffer = bytearray()
        pending = [*self._writes, *([self._last_hash] if self._last_hash is not None else [])]
        self._writes.clear()
        self._last_hash = None
        if pending:
            # Threads may still be writing to the descriptor: it is closed only once they are done, or its
            # number could be reused by another file meanwhile. Shielded, so this runs to the end even in a
            # cancelled request; the wait is short (a few batches).
            with anyio.CancelScope(shield=True):
                await asyncio.gather(*pending, return_exceptions=True)
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None
            with contextlib.suppress(FileNotFoundError):
                self._temp_path.unlink()


def _relative_parts(relative_path: str) -> tuple[str, ...]:
    if "\x00" in relative_path or "\\" in relative_path:
        raise UnsafePath(f"{relative_path!r} is not a valid path")
    pure = PurePosixPath(relative_path)
    if pure.is_absolute():
        raise UnsafePath(f"{relative_path!r} is absolute; paths are relative to the location")
    if ".." in pure.parts:
        raise UnsafePath(f"{relative_path!r} climbs out with '..'")
    return tuple(part for part in pure.parts if part != ".")


def _inside(root: Path, relative_path: str) -> Path:
    """`relative_path` under `root`, refusing anything that ends up elsewhere once symlinks are followed."""
    candidate = root.joinpath(*_relative_parts(relative_path))
    real_root = os.path.realpath(root)
    real = os.path.realpath(candidate)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UnsafePath(f"{relative_path!r} leads outside the location")
    return candidate


class LocalIncomingFolder:
    """A folder being received under `.incoming`; committed into place with one rename."""

    def __init__(self, root: Path, staging: Path) -> None:
        self._root = root
        self.staging = staging

    async def commit(self, relative_path: str, source: str = "") -> None:
        """Move `staging/<source>` to `relative_path`, replacing whatever was there."""

        def sync() -> None:
            target = _inside(self._root, relative_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            os.replace(self.staging / source if source else self.staging, target)
            _fsync_dir(target.parent)
            if source:
                shutil.rmtree(self.staging, ignore_errors=True)

        await anyio.to_thread.run_sync(sync)

    async def discard(self) -> None:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(self.staging, ignore_errors=True))

    def discard_sync(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


class LocalFilesystemSpace:
    """A location on a local (or locally mounted) filesystem, bound to its root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def resolve(self, relative_path: str) -> Path:
        return _inside(self.root, relative_path)

    async def prepare(self) -> None:
        await anyio.to_thread.run_sync(lambda: self.root.mkdir(parents=True, exist_ok=True))

    async def open_incoming(self, label: str) -> IncomingFile:
        incoming = self.root / INCOMING_DIR

        def sync() -> tuple[Path, BinaryIO]:
            incoming.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=incoming, prefix=f"{label}.", suffix=".part")
            return Path(name), os.fdopen(fd, "wb")

        temp_path, handle = await anyio.to_thread.run_sync(sync)
        return LocalIncomingFile(self.root, temp_path, handle)

    async def open_incoming_folder(self, label: str) -> LocalIncomingFolder:
        incoming = self.root / INCOMING_DIR

        def sync() -> Path:
            incoming.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(dir=incoming, prefix=f"{label}.", suffix=".dir"))

        return LocalIncomingFolder(self.root, await anyio.to_thread.run_sync(sync))

    async def move_in(self, source: Path, relative_path: str, sha256: str) -> bool:
        """Put the local file `source` at `relative_path` once its SHA-256 is found to be `sha256`: renamed
        when on the same filesystem (True), else copied and checked as it is copied (False; the source stays).
        Raises ChecksumMismatch and leaves everything as it was when the digest differs."""

        def digest_of(path: Path) -> str:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(READ_CHUNK):
                    digest.update(chunk)
            return digest.hexdigest()

        def sync() -> bool:
            target = _inside(self.root, relative_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            if os.stat(source).st_dev == os.stat(target.parent).st_dev:
                if (actual := digest_of(source)) != sha256:
                    raise ChecksumMismatch(actual)
                os.replace(source, target)
                _fsync_dir(target.parent)
                return True
            incoming = self.root / INCOMING_DIR
            incoming.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=incoming, prefix="move.", suffix=".part")
            try:
                digest = hashlib.sha256()
                with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
                    while chunk := handle.read(READ_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if digest.hexdigest() != sha256:
                    raise ChecksumMismatch(digest.hexdigest())
                os.replace(name, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
                raise
            _fsync_dir(target.parent)
            return False

        return await anyio.to_thread.run_sync(sync)

    def local_path(self, relative_path: str) -> Path:
        """Where the package's bytes are on this machine (archivers and validators read them there)."""
        return self.resolve(relative_path)

    def work_dir(self) -> Path:
        return self.root / WORK_DIR

    async def open_read(self, relative_path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        def open_at_start() -> BinaryIO:
            handle = self.resolve(relative_path).open("rb")
            handle.seek(start)
            return handle

        handle = await anyio.to_thread.run_sync(open_at_start)
        remaining = None if end is None else max(end - start, 0)

        def read_next() -> bytes:
            nonlocal remaining
            size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
            chunk = handle.read(size) if size else b""
            if remaining is not None:
                remaining -= len(chunk)
            return chunk

        # Read-ahead: the next chunk is read in a thread while the current one goes out.
        ahead: asyncio.Future[bytes] | None = None
        try:
            ahead = asyncio.ensure_future(anyio.to_thread.run_sync(read_next))
            while True:
                chunk = await ahead
                ahead = None
                if not chunk:
                    break
                ahead = asyncio.ensure_future(anyio.to_thread.run_sync(read_next))
                yield chunk
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait([ahead])  # the thread must be done with the handle before it closes
            handle.close()

    async def stat(self, relative_path: str) -> ObjectStat | None:
        def sync() -> ObjectStat | None:
            path = self.resolve(relative_path)
            try:
                result = path.stat()
            except FileNotFoundError:
                return None
            if not path.is_file():
                return None
            return ObjectStat(size=result.st_size, modified=datetime.fromtimestamp(result.st_mtime, UTC))

        return await anyio.to_thread.run_sync(sync)

    async def delete(self, relative_path: str) -> bool:
        def sync() -> bool:
            path = self.resolve(relative_path)
            real_root = Path(os.path.realpath(self.root))
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                return False
            # Prune the now-empty quad folders so deleted packages leave no skeleton behind.
            parent = path.parent
            while Path(os.path.realpath(parent)) != real_root:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent
            return True

        return await anyio.to_thread.run_sync(sync)

    async def list_folder(self, relative_path: str) -> list[FolderEntry]:
        def sync() -> list[FolderEntry]:
            folder = self.resolve(relative_path)
            real_root = os.path.realpath(self.root)
            at_root = os.path.realpath(folder) == real_root
            if not folder.exists():
                raise PathNotFound(f"{relative_path!r} does not exist in the location")
            if not folder.is_dir():
                raise NotAFolder(f"{relative_path!r} is not a folder")
            entries: list[FolderEntry] = []
            with os.scandir(folder) as scan:
                for entry in scan:
                    if at_root and entry.name in HIDDEN:
                        continue
                    if entry.is_symlink():
                        real = os.path.realpath(entry.path)
                        if not real.startswith(real_root.rstrip(os.sep) + os.sep):
                            continue  # never reveal what lies outside the location
                    try:
                        is_dir = entry.is_dir()
                        size = None if is_dir else entry.stat().st_size
                    except OSError:
                        continue  # dangling symlink, or vanished while listing
                    if is_dir:
                        size, count, complete = folder_totals(entry.path)
                        entries.append(FolderEntry(entry.name, True, size, count, complete))
                    else:
                        entries.append(FolderEntry(name=entry.name, is_dir=False, size=size))
            entries.sort(key=lambda e: e.name)
            return entries

        return await anyio.to_thread.run_sync(sync)


# Counting stops here so that browsing a folder of millions of files answers promptly; the entry says so.
COUNT_LIMIT = 100_000


def folder_totals(path: str) -> tuple[int, int, bool]:
    """Bytes and number of the files under `path` (links not followed), and whether all were counted."""
    size = count = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            size += stat.st_size
            count += 1
            if count >= COUNT_LIMIT:
                return size, count, False
    return size, count, True
