"""Package extraction (zip, tar, tar.gz, gz, bz2, 7z, rar) into `<package>-<date>/` next to the package.

Every archive is listed first (`lsar -j`, one parser for all formats) and refused when an entry is absolute, climbs
out with `..`, links outside the package, or the listed expansion is over the limits; extraction then runs into a
private `.partial` folder with the file-size rlimit set, is checked again on disk, and is renamed into place, so a
re-run after a crash finds either nothing or a complete folder.
"""

from __future__ import annotations

import json
import os
import posixpath
import resource
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from services.ingest.child_processes import die_with_parent
from services.ingest.microservices.results import EventSpec, FileOutcome, Status, bounded

# PRONOM ids of the packages we open. Office documents (zip-based, but with their own PUIDs) are not among them.
PACKAGE_PUIDS: dict[str, str] = {
    "x-fmt/263": "zip",
    "x-fmt/265": "tar",
    "x-fmt/266": "gzip",
    "x-fmt/268": "bzip2",
    "fmt/484": "7z",
    "x-fmt/264": "rar",
    "fmt/411": "rar",
    "fmt/613": "rar",
}
# Used only when the format was not identified.
PACKAGE_EXTENSIONS: dict[str, str] = {
    ".zip": "zip",
    ".tar": "tar",
    ".tgz": "gzip",
    ".gz": "gzip",
    ".tbz2": "bzip2",
    ".bz2": "bzip2",
    ".7z": "7z",
    ".rar": "rar",
}
TOOL_TIMEOUT = 3600.0
# lsar's XADError codes, for a readable failure reason.
XAD_ERRORS = {
    1: "unknown error",
    2: "input error (truncated or unreadable)",
    6: "illegal data",
    7: "unsupported compression",
    9: "decompression failed",
    15: "password required",
    17: "checksum error",
    20: "bad data format",
    21: "empty archive",
}


@dataclass(frozen=True)
class ExtractionLimits:
    max_entries: int = 200_000
    max_total_bytes: int = 100 * 1024**3


@dataclass
class Extraction:
    """The package's own outcome (with `file removed` if it was deleted) and one outcome per extracted file."""

    package: FileOutcome
    directory: Path | None = None
    files: list[FileOutcome] = field(default_factory=list)


class UnsafePackage(ValueError):
    pass


def package_kind(path: Path, puid: str | None) -> str | None:
    """The kind of package `path` is, or None. A known PUID decides; the extension only when unidentified."""
    if puid:
        return PACKAGE_PUIDS.get(puid)
    name = path.name.lower()
    if name.endswith(".tar.gz"):
        return "gzip"
    return PACKAGE_EXTENSIONS.get(path.suffix.lower())


def find_packages(root: Path, puid_of: Callable[[Path], str | None] | None = None) -> Iterator[Path]:
    """Packages under `root` (by PUID when `puid_of` is given, else by extension), in sorted order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not path.is_symlink() and package_kind(path, puid_of(path) if puid_of else None):
                yield path


def target_directory(package: Path, at: datetime) -> Path:
    # Archivematica's `<package>-<date>`, with the time's colons already in their sanitized form.
    return package.with_name(f"{package.name}-{at:%Y-%m-%dT%H_%M_%S}")


def _limit_child(max_bytes: int) -> Callable[[], None]:
    def prepare() -> None:
        # A lying header cannot make one extracted file outgrow the whole budget.
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
        die_with_parent()

    return prepare


def _run(argv: list[str], max_bytes: int = 0) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TOOL_TIMEOUT,
        preexec_fn=_limit_child(max_bytes) if max_bytes else None,
        check=False,
    )


def _tool_error(result: subprocess.CompletedProcess[bytes]) -> str:
    text = (result.stderr or b"").decode("utf-8", "replace") or (result.stdout or b"").decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip()]
    return bounded(" | ".join(lines[-6:]) or f"exit code {result.returncode}", 600)


def list_entries(package: Path) -> list[dict[str, Any]]:
    result = _run(["lsar", "-j", "--", str(package)])
    try:
        listing = json.loads(result.stdout)
    except ValueError:
        listing = None
    if not isinstance(listing, dict):
        raise UnsafePackage(f"cannot read package: {_tool_error(result)}")
    code = listing.get("lsarError") or 0
    if not listing.get("lsarFormatName"):
        raise UnsafePackage("broken package: not a readable archive of any known format")
    if code or result.returncode != 0:
        reason = XAD_ERRORS.get(code, f"error {code}")
        raise UnsafePackage(f"broken package ({listing['lsarFormatName']}): {reason}")
    entries: list[dict[str, Any]] = listing.get("lsarContents") or []
    return entries


def _inside(name: str) -> bool:
    normalized = posixpath.normpath(name.replace("\\", "/"))
    return not (normalized.startswith("/") or normalized == ".." or normalized.startswith("../"))


def check_entries(entries: list[dict[str, Any]], limits: ExtractionLimits) -> None:
    if len(entries) > limits.max_entries:
        raise UnsafePackage(f"too many entries: {len(entries)} > {limits.max_entries}")
    total = 0
    for entry in entries:
        name = str(entry.get("XADFileName", ""))
        if name.startswith(("/", "\\")) or not _inside(name):
            raise UnsafePackage(f"entry outside the package: {name!r}")
        if entry.get("XADIsLink") or entry.get("XADIsHardLink"):
            target = str(entry.get("XADLinkDestination", ""))
            anchored = target if entry.get("XADIsHardLink") else posixpath.join(posixpath.dirname(name), target)
            if target.startswith("/") or not _inside(anchored):
                raise UnsafePackage(f"link out of the package: {name!r} -> {target!r}")
        total += int(entry.get("XADFileSize") or 0)
    if total > limits.max_total_bytes:
        raise UnsafePackage(f"expands to {total} bytes, over the limit of {limits.max_total_bytes}")


def _check_on_disk(directory: Path, limits: ExtractionLimits) -> list[Path]:
    """The files really written; links that point outside are refused, whatever the listing said."""
    files: list[Path] = []
    total = 0
    real_root = directory.resolve()
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                raise UnsafePackage(f"link out of the package: {path.relative_to(directory)}")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            total += path.lstat().st_size
            files.append(path)
    if len(files) > limits.max_entries or total > limits.max_total_bytes:
        raise UnsafePackage(f"expanded to {len(files)} files, {total} bytes: over the limits")
    return files


def _make_accessible(directory: Path) -> None:
    """Archives can carry modes like 000; later micro-services must be able to read (and rename) what was unpacked."""
    os.chmod(directory, directory.stat().st_mode | stat.S_IRWXU)
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, os.lstat(path).st_mode | stat.S_IRWXU)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, os.lstat(path).st_mode | stat.S_IRUSR | stat.S_IWUSR)


def _extract_command(kind: str, package: Path, into: Path) -> list[str]:
    if kind in ("zip", "7z"):
        # 7-Zip reads what 7-Zip writes (unar fails on its Delta-filtered WAV members).
        return ["7z", "x", "-bd", "-y", "-snl", f"-o{into}", "--", str(package)]
    # unar opens rar, tar and the compressed tars in one pass (a .tar.gz becomes its files, not a .tar).
    return ["unar", "-q", "-D", "-f", "-o", str(into), "--", str(package)]


def extract_package(
    package: Path,
    package_uuid: str,
    *,
    kind: str,
    at: datetime,
    event_path: str,
    delete_package: bool = False,
    limits: ExtractionLimits | None = None,
) -> Extraction:
    """Extract `package` next to itself; `event_path` is its Amber path, e.g. `%transferDirectory%objects/a.zip`.

    Each extracted file gets an `unpacking` event; a broken or hostile package fails with the reason and leaves
    nothing behind.
    """
    limits = limits or ExtractionLimits()
    target = target_directory(package, at)
    detail = f"Unpacked from: {event_path} ({package_uuid})"
    if not target.exists():
        partial = target.with_name(f".{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            check_entries(list_entries(package), limits)
            partial.mkdir()
            result = _run(_extract_command(kind, package, partial), limits.max_total_bytes)
            if result.returncode != 0:
                raise UnsafePackage(f"extraction failed: {_tool_error(result)}")
            _make_accessible(partial)
            _check_on_disk(partial, limits)
        except (UnsafePackage, subprocess.TimeoutExpired, OSError) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            return Extraction(FileOutcome(package, Status.FAILED, message=bounded(str(exc), 800)))
        os.rename(partial, target)
    files = _check_on_disk(target, limits)
    outcomes = [FileOutcome(path, Status.PASSED, (EventSpec("unpacking", detail),)) for path in files]
    events: tuple[EventSpec, ...] = ()
    if delete_package:
        package.unlink(missing_ok=True)
        events = (EventSpec("file removed", "removed after extraction", "", f"extracted to {target.name}"),)
    message = f"extracted {len(files)} files into {target.name}"
    return Extraction(FileOutcome(package, Status.PASSED, events, message), target, outcomes)
