"""Receiving an uncompressed AIP: a tar stream unpacked, as it arrives, into a staging folder.

The tar is read in a worker thread that pulls the request body from the event loop chunk by chunk
(`anyio.from_thread`), so nothing is buffered beyond one chunk. Only regular files and folders are accepted;
links, devices, absolute names and `..` are refused, and no member may land outside the staging folder or
overwrite another. Every file is hashed (SHA-256) while it is written, and the bag is then checked against
its manifests with those digests.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio.from_thread

from services.storage.fixity.bag import BagCheck, compare_bag, validate_package
from services.storage.packages.archive import ArchiveError, PackageFormat, bag_root, safe_member_path

CHUNK = 1024 * 1024


class BodyReader(io.RawIOBase):
    """A blocking file object over an async body, for use from a worker thread started by anyio."""

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self._body = body
        self._pending = b""
        self._done = False
        self.digest = hashlib.sha256()
        self.size = 0

    async def _next(self) -> bytes:
        return await self._body.__anext__()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            try:
                self._pending = anyio.from_thread.run(self._next)
            except StopAsyncIteration:
                self._done = True
            else:
                self.digest.update(self._pending)
                self.size += len(self._pending)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def drain(self) -> None:
        while self.readinto(memoryview(bytearray(CHUNK))):
            pass


@dataclass
class Unpacked:
    stream_sha256: str
    stream_size: int
    bag_root: str  # inside the staging folder
    payload_size: int
    manifest_sha256: str  # SHA-256 of the bag's payload manifest: the folder's fingerprint
    check: BagCheck
    is_bag: bool


def unpack_tar(reader: BodyReader, staging: Path) -> Unpacked:
    digests: dict[str, dict[str, str]] = {}
    total = 0
    with tarfile.open(fileobj=reader, mode="r|*") as tar:
        for info in tar:
            name = safe_member_path(info.name)
            target = staging / name
            if info.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if not info.isreg():
                raise ArchiveError(f"{info.name!r} is not a regular file or folder; links are not accepted")
            if name in digests:
                raise ArchiveError(f"{info.name!r} appears twice in the tar")
            parent = target.parent
            parent.mkdir(parents=True, exist_ok=True)
            # mkdir would have followed a symlink; there are none, since only files and folders are made.
            if os.path.commonpath([os.path.realpath(parent), os.path.realpath(staging)]) != os.path.realpath(staging):
                raise ArchiveError(f"{info.name!r} leads outside the package")
            source = tar.extractfile(info)
            assert source is not None
            digest = hashlib.sha256()
            with open(target, "xb") as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(target, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
            digests[name] = {"sha256": digest.hexdigest()}
            total += info.size
    reader.drain()  # trailing zero blocks; the stream digest covers every byte sent
    root = bag_root(list(digests))
    outside = [path for path in digests if root and not path.startswith(root + "/")]
    if outside:
        raise ArchiveError(f"files outside the bag folder {root!r}: {', '.join(sorted(outside)[:5])}")
    manifests = [p for p in digests if p.rpartition("/")[2].startswith("manifest-")]
    check = _check(staging, root, digests)
    manifest_path = next((p for p in sorted(manifests) if p.endswith("manifest-sha256.txt")), None) or (
        sorted(manifests)[0] if manifests else None
    )
    return Unpacked(
        stream_sha256=reader.digest.hexdigest(),
        stream_size=reader.size,
        bag_root=root,
        payload_size=total,
        manifest_sha256=digests[manifest_path]["sha256"] if manifest_path else "",
        check=check,
        is_bag=any(p == "bagit.txt" or p.endswith("/bagit.txt") for p in digests),
    )


def _check(staging: Path, root: str, digests: dict[str, dict[str, str]]) -> BagCheck:
    folder = staging / root if root else staging
    names = [p.rpartition("/")[2] for p in digests if p.rpartition("/")[0] == root]
    manifests = [n for n in names if n.startswith(("manifest-", "tagmanifest-"))]
    if any(not n.endswith("-sha256.txt") for n in manifests):
        # Manifests of other algorithms: read the files again from disk with every algorithm needed.
        return validate_package(PackageFormat.folder, folder, "7z", None)
    check = BagCheck(files_checked=len(digests))
    tag_files: dict[str, IO[bytes]] = {}
    try:
        for path in digests:
            directory, _, name = path.rpartition("/")
            if directory == root and (name in ("bagit.txt", "bag-info.txt") or name in manifests):
                tag_files[path] = (staging / path).open("rb")
        compare_bag(check, root, digests, tag_files)
    finally:
        for handle in tag_files.values():
            handle.close()
    return check
