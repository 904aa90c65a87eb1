"""The local filesystem space: a location is a folder, packages are files in it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import anyio.to_thread

from services.storage.spaces.backend import (
    FolderEntry,
    IncomingFile,
    NotAFolder,
    ObjectStat,
    PathNotFound,
    UnsafePath,
)

# Uploads are staged inside the location so the final rename never crosses filesystems.
INCOMING_DIR = ".incoming"
# Disk writes go through a worker thread; batching small network chunks keeps the thread hops few.
WRITE_BATCH = 1024 * 1024
READ_CHUNK = 256 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalIncomingFile:
    def __init__(self, root: Path, temp_path: Path, handle: BinaryIO) -> None:
        self._root = root
        self._temp_path = temp_path
        self._handle: BinaryIO | None = handle
        self._hash = hashlib.sha256()
        self._size = 0
        self._buffer = bytearray()

    @property
    def size(self) -> int:
        return self._size + len(self._buffer)

    @property
    def sha256(self) -> str:
        if self._buffer:
            raise RuntimeError("finish() the file before reading its digest")
        return self._hash.hexdigest()

    def _write_sync(self, data: bytes | bytearray) -> None:
        assert self._handle is not None
        self._handle.write(data)
        # Hashing in the same thread hop: large updates release the GIL, so the event loop stays free.
        self._hash.update(data)
        self._size += len(data)

    async def _flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, bytearray()
            await anyio.to_thread.run_sync(self._write_sync, batch)

    async def write(self, data: bytes) -> None:
        if self._handle is None:
            raise RuntimeError("the incoming file was already committed or discarded")
        self._buffer += data
        if len(self._buffer) >= WRITE_BATCH:
            await self._flush()

    async def finish(self) -> None:
        await self._flush()
        handle = self._handle
        assert handle is not None

        def sync() -> None:
            handle.flush()
            os.fsync(handle.fileno())

        await anyio.to_thread.run_sync(sync)

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
        # Deliberately no await: it must run to the end even inside a cancelled task.
        self._buffer = bytearray()
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

    async def open_read(self, relative_path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        def open_at_start() -> BinaryIO:
            handle = self.resolve(relative_path).open("rb")
            handle.seek(start)
            return handle

        handle = await anyio.to_thread.run_sync(open_at_start)
        try:
            remaining = None if end is None else max(end - start, 0)
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await anyio.to_thread.run_sync(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
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
                    if at_root and entry.name == INCOMING_DIR:
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
                    entries.append(FolderEntry(name=entry.name, is_dir=is_dir, size=size))
            entries.sort(key=lambda e: e.name)
            return entries

        return await anyio.to_thread.run_sync(sync)
