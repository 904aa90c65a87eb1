"""The interface every space backend offers, so callers never depend on where the bytes live.

All paths are POSIX strings relative to the location the backend is bound to. Local filesystem is the only
implementation today; an object store implements the same methods (multipart upload for the incoming file,
ranged GET for reads) without touching the packages or locations code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


class SpaceError(Exception):
    """A backend could not do what was asked; subclasses say why."""


class UnsafePath(SpaceError):
    """The path is absolute, climbs with '..', or leads outside the location (e.g. through a symlink)."""


class ChecksumMismatch(SpaceError):
    def __init__(self, actual: str) -> None:
        super().__init__(f"the file's SHA-256 is {actual}")
        self.actual = actual


class PathNotFound(SpaceError):
    pass


class NotAFolder(SpaceError):
    pass


@dataclass(frozen=True)
class ObjectStat:
    size: int
    modified: datetime


@dataclass(frozen=True)
class FolderEntry:
    name: str
    is_dir: bool
    size: int | None  # a folder's: the bytes of the files inside it, at any depth
    file_count: int | None = None  # a folder's files at any depth
    complete: bool = True  # False when a huge folder was only partly counted


class IncomingFile(Protocol):
    """A file being received: written in order, then either committed into place or discarded."""

    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...

    async def write(self, data: bytes) -> None: ...

    async def finish(self) -> None:
        """All bytes are written: make them durable (still under the temporary name)."""

    async def commit(self, relative_path: str) -> None:
        """Atomically move the finished file to `relative_path`, replacing whatever was there."""

    async def discard(self) -> None:
        """Forget the file; safe to call at any time, more than once, and during cancellation."""


class IncomingFolder(Protocol):
    """A folder being received (an uncompressed package): filled in `staging`, then committed or discarded."""

    staging: Path

    async def commit(self, relative_path: str, source: str = "") -> None: ...

    async def discard(self) -> None: ...

    def discard_sync(self) -> None: ...


class SpaceBackend(Protocol):
    async def prepare(self) -> None:
        """Make sure the location exists and can receive files."""

    async def open_incoming(self, label: str) -> IncomingFile: ...

    async def open_incoming_folder(self, label: str) -> IncomingFolder: ...

    async def move_in(self, source: Path, relative_path: str, sha256: str) -> bool:
        """Take a file of the local machine, checked: moved when the filesystem allows (True), else copied."""
        ...

    def local_path(self, relative_path: str) -> Path:
        """A local path to the bytes; an object store would stage a local copy (in its work dir) first."""
        ...

    def work_dir(self) -> Path:
        """Scratch folder for long operations on the location's packages."""
        ...

    def open_read(self, relative_path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes [start, end) of a file, in chunks."""
        ...

    async def stat(self, relative_path: str) -> ObjectStat | None: ...

    async def delete(self, relative_path: str) -> bool: ...

    async def list_folder(self, relative_path: str) -> list[FolderEntry]: ...
