"""Uploaded archives: format detection and safe extraction into the standard layout.

Extraction never trusts the archive: every entry name is checked before anything is written, only regular files
and folders are created (with O_EXCL | O_NOFOLLOW, in a fresh staging folder that holds no links), and the
entry count, expanded size and expansion ratio are bounded. Any refusal names the entry; the caller removes
the staging and transfer folders.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import lzma
import os
import stat
import subprocess
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from clients.transfer.schemas import ArchiveFormat
from services.transfer.transfers.layout import (
    TransferRefused,
    mode_problem,
    name_problem,
    shown,
)

WRITE_CHUNK = 1024 * 1024
LINKS_REFUSED = "links are not accepted in transfers"
# Errors of a damaged or mislabelled archive (disk errors such as ENOSPC are deliberately not among them).
DAMAGED = (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, lzma.LZMAError,
           gzip.BadGzipFile, NotImplementedError, UnicodeDecodeError)


@dataclass(frozen=True)
class ArchiveLimits:
    max_expanded_bytes: int
    max_entries: int
    max_ratio: float


# The longest magic this detection reads: the ustar magic at offset 257 of the first tar header.
HEAD_BYTES = 512
# Formats extracted front to back as their bytes arrive; zip and 7z keep their directory at the end.
STREAMED = frozenset({ArchiveFormat.tar, ArchiveFormat.tar_gz})


def detect_format(path: Path) -> ArchiveFormat:
    with path.open("rb") as head_file:
        return format_of(head_file.read(HEAD_BYTES))


def format_of(head: bytes) -> ArchiveFormat:
    """The format told by the magic bytes: zip local header, gzip member (taken as tar.gz), or the ustar magic."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ArchiveFormat.zip
    if head.startswith(b"\x1f\x8b"):
        return ArchiveFormat.tar_gz
    if head[257:262] == b"ustar":
        return ArchiveFormat.tar
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return ArchiveFormat.seven_z
    raise TransferRefused(
        "The upload is not a zip, tar, tar.gz or 7z archive (pass archive_format for a pre-POSIX tar)"
    )


class Budget:
    """Bounds on what one archive may expand to.

    Without the archive's size (a stream sent without a length), the ratio is checked once the archive has been
    read to its end (`settle`); the absolute bounds hold throughout.
    """

    def __init__(self, limits: ArchiveLimits, archive_size: int | None) -> None:
        self.limits = limits
        self.archive_size = None if archive_size is None else max(archive_size, 1)
        self.entries = 0
        self.expanded = 0

    def count_entries(self, count: int = 1) -> None:
        self.entries += count
        if self.entries > self.limits.max_entries:
            raise TransferRefused(f"The archive has more than {self.limits.max_entries} entries")

    def reserve(self, size: int) -> None:
        self.expanded += size
        if self.expanded > self.limits.max_expanded_bytes:
            raise TransferRefused(f"The archive expands to more than {self.limits.max_expanded_bytes} bytes")
        if self.archive_size is not None:
            self._check_ratio(self.archive_size)

    def settle(self, archive_size: int) -> None:
        """The archive was read to its end: `archive_size` bytes in all."""
        if self.archive_size is None:
            self._check_ratio(max(archive_size, 1))

    def _check_ratio(self, archive_size: int) -> None:
        if self.expanded > self.limits.max_ratio * archive_size:
            raise TransferRefused(
                f"The archive expands more than {self.limits.max_ratio:g} times its size of {archive_size} "
                "bytes; refused as a likely decompression bomb"
            )


def entry_parts(name: str) -> tuple[str, ...]:
    """The checked path components of an archive entry; empty for the archive root itself (`./`)."""
    if name.startswith("/"):
        raise TransferRefused(
            f"Entry '{shown(name)}' has an absolute path", [(shown(name), "has an absolute path")]
        )
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise TransferRefused(
            f"Entry '{shown(name)}' points outside the transfer ('..' is not allowed)",
            [(shown(name), "has a '..' component")],
        )
    for part in parts:
        reason = name_problem(part)
        if reason:
            raise TransferRefused(f"Entry '{shown(name)}' {reason}", [(shown(name), reason)])
    return parts


def refuse_entry(name: str, reason: str) -> TransferRefused:
    return TransferRefused(f"Entry '{shown(name)}' {reason}", [(shown(name), reason)])


def make_folder(staging: Path, parts: tuple[str, ...], name: str) -> None:
    try:
        staging.joinpath(*parts).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise refuse_entry(name, "conflicts with a file of the same name in the archive") from exc


def write_file(staging: Path, parts: tuple[str, ...], name: str, source: IO[bytes], size: int, mtime: float) -> None:
    """Write one entry of exactly `size` bytes; a longer or shorter entry is refused."""
    if len(parts) > 1:
        make_folder(staging, parts[:-1], name)
    destination = staging.joinpath(*parts)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(destination, flags, 0o644)
    except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
        raise refuse_entry(name, "appears more than once in the archive") from exc
    written = 0
    with os.fdopen(fd, "wb") as writer:
        while chunk := source.read(WRITE_CHUNK):
            written += len(chunk)
            if written > size:
                raise refuse_entry(name, "holds more data than its header declares")
            writer.write(chunk)
    if written != size:
        raise refuse_entry(name, f"is truncated ({written} of {size} bytes)")
    # An out-of-range archive timestamp leaves the file with its extraction time.
    with contextlib.suppress(OverflowError, ValueError, OSError):
        os.utime(destination, (mtime, mtime))


def zip_kind(info: zipfile.ZipInfo) -> str:
    """'dir' or 'file'; links and special files are refused."""
    mode = info.external_attr >> 16
    if mode and stat.S_IFMT(mode):
        reason = mode_problem(mode)
        if reason:
            raise refuse_entry(info.filename, reason)
        if stat.S_ISDIR(mode):
            return "dir"
    return "dir" if info.is_dir() else "file"


def zip_mtime(info: zipfile.ZipInfo) -> float:
    # Zip timestamps are local wall-clock time without a zone.
    return time.mktime((*info.date_time, 0, 0, -1))


def extract_zip(archive: Path, staging: Path, budget: Budget) -> int:
    with zipfile.ZipFile(archive) as zipped:
        infos = zipped.infolist()
        budget.count_entries(len(infos))
        # The central directory tells everything up front: refuse before writing a single byte.
        planned = []
        for info in infos:
            parts = entry_parts(info.filename)
            kind = zip_kind(info)
            if info.flag_bits & 0x1:
                raise refuse_entry(info.filename, "is encrypted")
            if kind == "file":
                if not parts:
                    raise refuse_entry(info.filename, "has no name")
                budget.reserve(info.file_size)
            planned.append((info, parts, kind))
        files = 0
        for info, parts, kind in planned:
            if kind == "dir":
                if parts:
                    make_folder(staging, parts, info.filename)
                continue
            with zipped.open(info) as source:
                write_file(staging, parts, info.filename, source, info.file_size, zip_mtime(info))
            files += 1
    return files


class CountingReader:
    """Reads through to `source`, counting the bytes: the size of an archive that arrives as a stream."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.count += len(data)
        return data

    def read_to_end(self) -> None:
        while self.read(WRITE_CHUNK):
            pass


def extract_tar(stream: IO[bytes] | CountingReader, archive_format: ArchiveFormat, staging: Path,
                budget: Budget) -> int:
    # Stream modes read the archive once, front to back; `members` is cleared as we go, since tarfile would
    # otherwise keep every header of a multi-million-entry archive in memory.
    mode = "r|gz" if archive_format is ArchiveFormat.tar_gz else "r|"
    files = 0
    with tarfile.open(fileobj=stream, mode=mode) as tar:  # type: ignore[call-overload]
        while (info := tar.next()) is not None:
            tar.members.clear()
            budget.count_entries()
            parts = entry_parts(info.name)
            if info.issym():
                raise refuse_entry(info.name, f"is a symbolic link to '{shown(info.linkname)}' ({LINKS_REFUSED})")
            if info.islnk():
                raise refuse_entry(info.name, f"is a hard link to '{shown(info.linkname)}' ({LINKS_REFUSED})")
            if info.ischr() or info.isblk():
                raise refuse_entry(info.name, "is a device file")
            if info.isfifo():
                raise refuse_entry(info.name, "is a FIFO (named pipe)")
            if info.isdir():
                if parts:
                    make_folder(staging, parts, info.name)
                continue
            if not info.isreg():
                raise refuse_entry(info.name, "is not a regular file or folder")
            if not parts:
                raise refuse_entry(info.name, "has no name")
            budget.reserve(info.size)
            source = tar.extractfile(info)
            assert source is not None
            write_file(staging, parts, info.name, source, info.size, info.mtime)
            files += 1
    return files


def extract_to_staging(archive: Path, archive_format: ArchiveFormat, staging: Path, limits: ArchiveLimits) -> Path:
    """Extract into the new folder `staging`; returns the transfer root found there.

    An archive whose entries all sit under one top-level folder (`tar -cf x.tar folder/`) has that folder as
    its transfer root; otherwise the archive root is the transfer root. The caller removes `staging`.
    """
    if archive_format in STREAMED:
        with archive.open("rb") as source:
            return extract_stream_to_staging(source, archive_format, staging, limits, archive.stat().st_size)
    budget = Budget(limits, archive.stat().st_size)
    staging.mkdir(parents=True)
    with damage_refused(archive_format):
        if archive_format is ArchiveFormat.zip:
            files = extract_zip(archive, staging, budget)
        else:
            files = extract_7z(archive, staging, budget)
    return transfer_root(staging, files)


def extract_stream_to_staging(source: IO[bytes], archive_format: ArchiveFormat, staging: Path,
                              limits: ArchiveLimits, size: int | None) -> Path:
    """Extract a tar or tar.gz read front to back from `source` (a file, or an upload as it arrives) into the new
    folder `staging`; `size` is the archive's, when known before its end. Returns the transfer root found there.
    """
    counted = CountingReader(source)
    budget = Budget(limits, size)
    staging.mkdir(parents=True)
    with damage_refused(archive_format):
        files = extract_tar(counted, archive_format, staging, budget)
        # The end-of-archive blocks and whatever pads the archive after them count in its size.
        counted.read_to_end()
    budget.settle(counted.count)
    return transfer_root(staging, files)


@contextlib.contextmanager
def damage_refused(archive_format: ArchiveFormat) -> Iterator[None]:
    try:
        yield
    except DAMAGED as exc:
        raise TransferRefused(
            f"The upload is not a valid {archive_format.value} archive or is damaged: {exc}"
        ) from exc


def transfer_root(staging: Path, files: int) -> Path:
    if files == 0:
        raise TransferRefused("The archive holds no files")
    with os.scandir(staging) as scan:
        top = list(scan)
    return Path(top[0].path) if len(top) == 1 and top[0].is_dir(follow_symlinks=False) else staging


# --- 7z, through the `7z` program (p7zip-full) --------------------------------------------------------------------


def seven_zip_listing(archive: Path) -> list[dict[str, str]]:
    """The archive's entries as `7z l -slt` describes them, read before anything is extracted."""
    try:
        result = subprocess.run(
            ["7z", "l", "-slt", "-ba", "-sccUTF-8", "-p", str(archive)], capture_output=True, check=False,
            timeout=600,
        )
    except FileNotFoundError as exc:
        raise TransferRefused("7z archives need the 7z program (apt package p7zip-full), which is missing") from exc
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TransferRefused(f"The upload is not a valid 7z archive or is damaged: {' '.join(message)[-500:]}")
    entries: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw_line in result.stdout.split(b"\n"):
        line = os.fsdecode(raw_line.rstrip(b"\r"))
        if not line.strip():
            if current:
                entries.append(current)
                current = {}
            continue
        key, sep, value = line.partition(" = ")
        if sep:
            current[key] = value
    if current:
        entries.append(current)
    return [entry for entry in entries if "Path" in entry]


def extract_7z(archive: Path, staging: Path, budget: Budget) -> int:
    entries = seven_zip_listing(archive)
    budget.count_entries(len(entries))
    files = 0
    for entry in entries:
        name = entry["Path"]
        parts = entry_parts(name)
        attributes = entry.get("Attributes", "")
        # 7z keeps the Unix mode after the Windows attributes: "A -rw-r--r--", "D drwxr-xr-x", "A lrwxrwxrwx".
        unix = attributes.split(" ", 1)[1] if " " in attributes else ""
        if unix[:1] == "l":
            raise refuse_entry(name, f"is a symbolic link ({LINKS_REFUSED})")
        if unix[:1] in ("c", "b"):
            raise refuse_entry(name, "is a device file")
        if unix[:1] == "p":
            raise refuse_entry(name, "is a FIFO (named pipe)")
        if unix[:1] == "s":
            raise refuse_entry(name, "is a socket")
        if entry.get("Encrypted") == "+":
            raise refuse_entry(name, "is encrypted")
        if entry.get("Folder") == "+" or attributes.startswith("D"):
            continue
        if not parts:
            raise refuse_entry(name, "has no name")
        budget.reserve(int(entry.get("Size") or 0))
        files += 1
    # The listing was checked: every name is relative, free of '..' and links; 7z writes into a fresh folder.
    result = subprocess.run(
        ["7z", "x", "-y", "-bd", "-p", "-snl-", f"-o{staging}", str(archive)], capture_output=True, check=False,
        timeout=None,
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        if "No space left" in message or "There is not enough space" in message:
            raise OSError(errno.ENOSPC, "No space left on device", str(staging))
        raise TransferRefused(f"The 7z archive could not be extracted: {message[-500:]}")
    for folder, _subfolders, names in os.walk(staging):
        for file_name in names:
            reason = mode_problem(os.lstat(os.path.join(folder, file_name)).st_mode)
            if reason:
                raise refuse_entry(os.path.relpath(os.path.join(folder, file_name), staging), reason)
    return files
