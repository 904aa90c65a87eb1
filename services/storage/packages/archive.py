"""Reading inside a stored package without unpacking it to disk: 7z, tar (plain, gz, bz2, xz) and folders.

Everything here is blocking and runs in worker threads; a member is read as a stream of chunks, so memory
stays flat whatever the size of the package. A 7z is listed with `7z l -slt` and its files streamed with
`7z x -so`, which writes them in the listing's order, one after the other; the sizes from the listing split
that stream back into files.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import IO

CHUNK = 1024 * 1024
TAR_BLOCK = 512
# Lookups that fail because of the name asked for, not the disk: the file simply is not there.
NAMES_NOT_FOUND = {errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP}


class ArchiveError(Exception):
    """The package could not be read (corrupt archive, failing archiver, unsafe member)."""


class PackageFormat(StrEnum):
    folder = "folder"
    seven_zip = "7z"
    tar = "tar"
    other = "other"


def package_format(current_path: str, uncompressed: bool) -> PackageFormat:
    if uncompressed:
        return PackageFormat.folder
    name = current_path.lower()
    if name.endswith(".7z"):
        return PackageFormat.seven_zip
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return PackageFormat.tar
    return PackageFormat.other


@dataclass(frozen=True)
class Member:
    path: str  # POSIX, relative to the archive's root (for a 7z of a bag: `<bag folder>/data/…`)
    size: int


def safe_member_path(name: str) -> str:
    """A member name as a clean relative path; refuses absolute names, `..`, backslashes and NUL."""
    if "\x00" in name or "\\" in name:
        raise ArchiveError(f"unsafe member name {name!r}")
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts:
        raise ArchiveError(f"unsafe member name {name!r}")
    parts = [part for part in pure.parts if part not in (".", "")]
    if not parts:
        raise ArchiveError(f"empty member name {name!r}")
    return "/".join(parts)


# -- 7z -------------------------------------------------------------------------------------------------------


def seven_zip_members(seven_zip: str, archive: Path) -> list[Member]:
    """The files (not folders) of a 7z, in archive order."""
    process = subprocess.run(
        [seven_zip, "l", "-slt", "-sccUTF-8", "--", str(archive)],
        capture_output=True, check=False,
    )
    if process.returncode != 0:
        raise ArchiveError(f"7z cannot list the archive: {process.stderr.decode(errors='replace').strip()}")
    members: list[Member] = []
    text = process.stdout.decode("utf-8", errors="surrogateescape")
    _header, separator, body = text.partition("\n----------\n")
    if not separator:
        raise ArchiveError("7z listing has no entries section")
    for block in body.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(" = ")
            if sep:
                fields.setdefault(key, value)
        if "Path" not in fields:
            continue
        attributes = fields.get("Attributes", "")
        if attributes.startswith("D") or fields.get("Folder") == "+":
            continue
        members.append(Member(safe_member_path(fields["Path"]), int(fields.get("Size") or 0)))
    return members


def _read_exactly(stream: IO[bytes], size: int) -> Iterator[bytes]:
    remaining = size
    while remaining:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            raise ArchiveError("the archiver's output ended early")
        remaining -= len(chunk)
        yield chunk


@dataclass
class _Archiver:
    process: subprocess.Popen[bytes]
    # stderr goes to a file, not a pipe: a pipe nobody reads until the end could fill up and stall 7z.
    errors: IO[bytes]

    @property
    def stdout(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout


def _spawn(args: list[str]) -> _Archiver:
    errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _stop)
    try:
        return _Archiver(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, bufsize=0), errors)
    except BaseException:
        errors.close()
        raise


def _finish(archiver: _Archiver, what: str) -> None:
    trailing = archiver.stdout.read(1)
    code = archiver.process.wait()
    if code != 0:
        archiver.errors.seek(0)
        message = archiver.errors.read().decode(errors="replace").strip()
        raise ArchiveError(f"7z failed while {what} (exit {code}): {message[-2000:]}")
    if trailing:
        raise ArchiveError("7z wrote more bytes than its listing announced")


def _stop(archiver: _Archiver) -> None:
    if archiver.process.poll() is None:
        archiver.process.kill()
    archiver.process.wait()
    archiver.stdout.close()
    archiver.errors.close()


def walk_seven_zip(seven_zip: str, archive: Path) -> Iterator[tuple[Member, Iterator[bytes]]]:
    members = seven_zip_members(seven_zip, archive)
    archiver = _spawn([seven_zip, "x", "-so", "-y", "-bd", "-sccUTF-8", "--", str(archive)])
    try:
        for member in members:
            chunks = _read_exactly(archiver.stdout, member.size)
            yield member, chunks
            for _rest in chunks:  # the caller may skip a member; its bytes still have to be consumed
                pass
        _finish(archiver, "extracting")
    finally:
        _stop(archiver)


def extract_seven_zip_member(seven_zip: str, archive: Path, member: Member) -> Iterator[bytes]:
    # -spd: the path is literal, so names holding * or ? never match other files.
    archiver = _spawn([seven_zip, "x", "-so", "-y", "-bd", "-spd", "-sccUTF-8", "--", str(archive), member.path])
    try:
        yield from _read_exactly(archiver.stdout, member.size)
        _finish(archiver, f"extracting {member.path}")
    finally:
        _stop(archiver)


# -- tar ------------------------------------------------------------------------------------------------------


def walk_tar(archive: Path) -> Generator[tuple[Member, Iterator[bytes]], None, None]:
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for info in tar:
                if info.isdir():
                    continue
                if not info.isreg():
                    raise ArchiveError(f"{info.name!r} is not a regular file")
                handle = tar.extractfile(info)
                assert handle is not None
                yield Member(safe_member_path(info.name), info.size), _chunks_of(handle)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"unreadable tar: {exc}") from exc


def _chunks_of(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


# -- folders --------------------------------------------------------------------------------------------------


def folder_members(root: Path) -> list[Member]:
    """Regular files under `root`, sorted by path; symlinks are refused rather than followed."""
    members: list[Member] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(directory) / name
            info = full.lstat()
            if not stat.S_ISREG(info.st_mode):
                raise ArchiveError(f"{full.relative_to(root).as_posix()!r} is not a regular file")
            members.append(Member(full.relative_to(root).as_posix(), info.st_size))
        for name in dirnames:
            if (Path(directory) / name).is_symlink():
                raise ArchiveError(f"{(Path(directory) / name).relative_to(root).as_posix()!r} is a symlink")
    members.sort(key=lambda m: m.path)
    return members


def walk_folder(root: Path) -> Iterator[tuple[Member, Iterator[bytes]]]:
    for member in folder_members(root):
        with (root / member.path).open("rb") as handle:
            yield member, _chunks_of(handle)


def walk(fmt: PackageFormat, path: Path, seven_zip: str) -> Iterator[tuple[Member, Iterator[bytes]]]:
    """Every file of the package with its bytes, in the cheapest order to read them."""
    if fmt == PackageFormat.folder:
        return walk_folder(path)
    if fmt == PackageFormat.seven_zip:
        return walk_seven_zip(seven_zip, path)
    if fmt == PackageFormat.tar:
        return walk_tar(path)
    raise ArchiveError("the package is neither a folder, a 7z nor a tar; its content cannot be read")


def extract_member(fmt: PackageFormat, path: Path, seven_zip: str, wanted: str) -> tuple[int, Iterator[bytes]]:
    """(size, chunks) of one file, `wanted` being relative to the bag root (e.g. `data/METS.<uuid>.xml`)."""
    wanted = safe_member_path(wanted)
    if fmt == PackageFormat.folder:
        target = path / wanted
        try:
            if target.is_symlink() or not target.is_file():
                raise FileNotFoundError(wanted)
            handle = target.open("rb")
        except OSError as exc:
            # A name the filesystem cannot even look up (too long, through a file) names no file of the bag;
            # other errors (EIO) are the server's and stay so.
            if exc.errno in NAMES_NOT_FOUND:
                raise FileNotFoundError(wanted) from exc
            raise

        def folder_chunks() -> Iterator[bytes]:
            with handle:
                yield from _chunks_of(handle)

        return os.fstat(handle.fileno()).st_size, folder_chunks()
    if fmt == PackageFormat.seven_zip:
        members = seven_zip_members(seven_zip, path)
        root = bag_root([m.path for m in members])
        full = f"{root}/{wanted}" if root else wanted
        for member in members:
            if member.path == full:
                return member.size, extract_seven_zip_member(seven_zip, path, member)
        raise FileNotFoundError(wanted)
    if fmt == PackageFormat.tar:
        # A compressed tar has no index: stream it up to the member (its root is its first path segment).
        walker = walk_tar(path)
        for member, chunks in walker:
            relative = member.path.split("/", 1)[1] if "/" in member.path else member.path
            if relative == wanted or member.path == wanted:

                def tar_chunks(first: Iterator[bytes] = chunks) -> Iterator[bytes]:
                    try:
                        yield from first
                    finally:
                        walker.close()

                return member.size, tar_chunks()
        raise FileNotFoundError(wanted)
    raise ArchiveError("files cannot be extracted from this kind of package")


def bag_root(paths: list[str]) -> str:
    """The folder holding `bagit.txt` closest to the top ('' when it is at the top)."""
    candidates = [p for p in paths if p == "bagit.txt" or p.endswith("/bagit.txt")]
    if not candidates:
        return ""
    best = min(candidates, key=lambda p: (p.count("/"), p))
    return best.rpartition("/")[0]


# -- tar built on the fly (downloading an uncompressed AIP) ---------------------------------------------------


@dataclass(frozen=True)
class TarPlan:
    entries: list[tuple[bytes, Path, int]]  # header, file, size

    @property
    def size(self) -> int:
        body = sum(len(header) + size + (-size % TAR_BLOCK) for header, _path, size in self.entries)
        return body + 2 * TAR_BLOCK


def plan_tar(root: Path, prefix: str) -> TarPlan:
    """Headers of every file of the folder under `prefix/`, so the tar's length is known before it is sent."""
    entries: list[tuple[bytes, Path, int]] = []
    for member in folder_members(root):
        full = root / member.path
        info = tarfile.TarInfo(f"{prefix}/{member.path}")
        info.size = member.size
        info.mtime = int(full.stat().st_mtime)
        info.mode = 0o644
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        entries.append((header, full, member.size))
    return TarPlan(entries)


def tar_chunks(plan: TarPlan) -> Iterator[bytes]:
    for header, path, size in plan.entries:
        yield header
        sent = 0
        with path.open("rb") as handle:
            while sent < size:
                chunk = handle.read(min(CHUNK, size - sent))
                if not chunk:
                    raise ArchiveError(f"{path} shrank while it was being sent")
                sent += len(chunk)
                yield chunk
        if size % TAR_BLOCK:
            yield b"\0" * (TAR_BLOCK - size % TAR_BLOCK)
    yield b"\0" * (2 * TAR_BLOCK)
