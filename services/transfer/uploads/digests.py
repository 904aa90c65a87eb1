"""The SHA-256 of each resumable upload's bytes, carried along as its chunks are appended, so that completing an
upload of many gigabytes need not read them all again.

The state lives in this process only: after a restart, or when another process took some chunks, the running
digest no longer covers what is on disk, and completing hashes the file as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import BinaryIO
from uuid import UUID


@dataclass
class RunningDigest:
    """The SHA-256 of the first `length` bytes of an upload's part file."""

    length: int = 0
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    broken: bool = False

    def write(self, handle: BinaryIO, block: bytes) -> None:
        """Append `block` to the part file and to the digest; a failed write leaves the digest unusable."""
        try:
            handle.write(block)
        except BaseException:
            self.broken = True
            raise
        # A digest that can no longer be trusted is not worth the CPU of a multi-gigabyte hash.
        if not self.broken:
            self.hasher.update(block)
            self.length += len(block)


_running: dict[UUID, RunningDigest] = {}


def for_append(upload_uuid: UUID, on_disk: int) -> RunningDigest:
    """The digest to carry along while appending after `on_disk` bytes: the running one when it covers exactly
    those bytes, a fresh one from the first byte, or else one that is written to but never trusted."""
    running = _running.get(upload_uuid)
    if running is not None and not running.broken and running.length == on_disk:
        return running
    running = RunningDigest(broken=on_disk != 0)
    _running[upload_uuid] = running
    return running


def settle(upload_uuid: UUID, on_disk: int) -> None:
    """After an append: the digest is kept only if it covers what actually reached the disk."""
    running = _running.get(upload_uuid)
    if running is not None and (running.broken or running.length != on_disk):
        running.broken = True


def take(upload_uuid: UUID, size: int) -> str | None:
    """The SHA-256 of the upload's `size` bytes if this process saw them all arrive, else None; forgets it."""
    running = _running.pop(upload_uuid, None)
    if running is None or running.broken or running.length != size:
        return None
    return running.hasher.hexdigest()


def forget(upload_uuid: UUID) -> None:
    _running.pop(upload_uuid, None)
