"""Package extraction (zip, tar, tar.gz, gz, bz2, 7z, rar) into `<package>-<date>/` next to the package.

Every archive is listed first and refused when an entry is absolute, climbs out with `..`, links outside the
package, is encrypted, or the listed expansion is over the limits; extraction then runs into a private `.partial`
folder with the file-size rlimit set, is checked again on disk, and is renamed into place, so a re-run after a
crash finds either nothing or a complete folder. Zip and 7z are listed (`7z l -slt`) and extracted (`7z x`) by
7-Zip, ~8 ms each where lsar and unar take ~55 ms; the other formats by lsar (`-j`) and unar.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from services.ingest.child_processes import ChildProcesses
from services.ingest.microservices.results import EventSpec, FileOutcome, Status, bounded
from services.ingest.tool_guard import GuardUnavailable

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
# Formats 7-Zip lists and extracts itself (unar fails on the Delta-filtered WAV members 7-Zip writes).
SEVEN_ZIP_KINDS = frozenset({"zip", "7z"})
# A link's target is its data: longer than any path is not a link anyone made.
MAX_LINK_TARGET = 4096
# 7-Zip's Unix mode column: the type letter, then the nine permission letters.
_UNIX_LINK = re.compile(r"(?:^|\s)l[-rwxsStT]{9}(?:\s|$)")
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
class Entry:
    """One member as an archiver lists it. `link`: the target of a symbolic or hard link, else None."""

    name: str
    size: int = 0
    link: str | None = None
    hard_link: bool = False
    encrypted: bool = False


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


def _tool_error(result: subprocess.CompletedProcess[bytes]) -> str:
    text = (result.stderr or b"").decode("utf-8", "replace") or (result.stdout or b"").decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip()]
    return bounded(" | ".join(lines[-6:]) or f"exit code {result.returncode}", 600)


def list_entries(package: Path, children: ChildProcesses, kind: str = "") -> list[Entry]:
    """The members of `package`, by 7-Zip for zip and 7z, else by lsar; a package neither reads is broken."""
    if kind in SEVEN_ZIP_KINDS:
        return _list_with_7z(package, children, kind)
    return _list_with_lsar(package, children)


def _list_with_lsar(package: Path, children: ChildProcesses) -> list[Entry]:
    result = children.run(["lsar", "-j", "--", str(package)], tool="lsar", command="list", timeout=TOOL_TIMEOUT)
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
    return [Entry(str(entry.get("XADFileName", "")), int(entry.get("XADFileSize") or 0),
                  str(entry.get("XADLinkDestination", "")) if entry.get("XADIsLink") or entry.get("XADIsHardLink")
                  else None, bool(entry.get("XADIsHardLink")), bool(entry.get("XADIsEncrypted")))
            for entry in entries]


def _seven_zip(package: Path, children: ChildProcesses, command: str, *switches: str,
               file_size_limit: int = 0) -> subprocess.CompletedProcess[bytes]:
    # `-p` with no password: an encrypted archive fails at once instead of asking on the terminal; UTF-8 names
    # whatever the locale.
    return children.run(["7z", *switches, "-p", "-sccUTF-8", "--", str(package)], tool="7z", command=command,
                        timeout=TOOL_TIMEOUT, file_size_limit=file_size_limit)


def _list_with_7z(package: Path, children: ChildProcesses, kind: str) -> list[Entry]:
    result = _seven_zip(package, children, "list", "l", "-slt")
    # 7-Zip prints a line break inside a name or comment as `_`, so each line is one `Key = Value`.
    text = result.stdout.decode("utf-8", "replace")
    _, ruler, members = text.partition("\n----------\n")
    if result.returncode != 0 or not ruler:
        raise UnsafePackage(f"broken package ({kind}): {_seven_zip_errors(result)}")
    listed: list[dict[str, str]] = []
    for line in members.split("\n"):
        key, equals, value = line.partition(" = ")
        if not equals:
            continue
        if key == "Path":
            listed.append({})
        if listed:
            # The first value of a key stands: nothing printed later in a member's block can change it.
            listed[-1].setdefault(key, value)
    entries: list[Entry] = []
    links: list[int] = []
    for fields in listed:
        link = fields.get("Symbolic Link") or fields.get("Hard Link")
        if link is None and _UNIX_LINK.search(fields.get("Attributes", "")):
            links.append(len(entries))
        entries.append(Entry(fields["Path"], int(fields.get("Size") or 0), link, "Hard Link" in fields,
                             fields.get("Encrypted") == "+"))
    for index in links:
        entries[index] = _with_link_target(package, children, entries[index])
    return entries


def _seven_zip_errors(result: subprocess.CompletedProcess[bytes]) -> str:
    """What 7-Zip said was wrong: its error stream, and the lines under `ERRORS:` in the archive's header."""
    said = [line.strip() for line in result.stderr.decode("utf-8", "replace").split("\n") if line.strip()]
    under = False
    for line in result.stdout.decode("utf-8", "replace").split("\n"):
        if line.strip() in ("ERRORS:", "WARNINGS:"):
            under = True
        elif not line.strip() or " = " in line:
            under = False
        if under:
            said.append(line.strip())
    return bounded(" | ".join(said), 600) if said else _tool_error(result)


def _with_link_target(package: Path, children: ChildProcesses, entry: Entry) -> Entry:
    """A zip or 7z keeps a symbolic link's target as the member's data; 7-Zip's listing does not show it."""
    if entry.size > MAX_LINK_TARGET:
        raise UnsafePackage(f"link with a target of {entry.size} bytes: {entry.name!r}")
    # -spd: the name is a name, not a wildcard.
    result = children.run(["7z", "x", "-so", "-spd", "-p", "-sccUTF-8", "--", str(package), entry.name],
                          tool="7z", command="read link", timeout=TOOL_TIMEOUT)
    if result.returncode != 0 or len(result.stdout) != entry.size:
        raise UnsafePackage(f"link whose target cannot be read: {entry.name!r}")
    return Entry(entry.name, entry.size, result.stdout.decode("utf-8", "replace"), False, entry.encrypted)


def _inside(name: str) -> bool:
    normalized = posixpath.normpath(name.replace("\\", "/"))
    return not (normalized.startswith("/") or normalized == ".." or normalized.startswith("../"))


def check_entries(entries: list[Entry], limits: ExtractionLimits) -> None:
    if len(entries) > limits.max_entries:
        raise UnsafePackage(f"too many entries: {len(entries)} > {limits.max_entries}")
    total = 0
    for entry in entries:
        name = entry.name
        if name.startswith(("/", "\\")) or not _inside(name):
            raise UnsafePackage(f"entry outside the package: {name!r}")
        if entry.link is not None:
            target = entry.link
            anchored = target if entry.hard_link else posixpath.join(posixpath.dirname(name), target)
            if target.startswith(("/", "\\")) or not _inside(anchored):
                raise UnsafePackage(f"link out of the package: {name!r} -> {target!r}")
        if entry.encrypted:
            # No password is ever known: the archiver would fail on it, or ask on a terminal nobody watches.
            raise UnsafePackage(f"encrypted entry: {name!r}")
        total += entry.size
    if total > limits.max_total_bytes:
        raise UnsafePackage(f"expands to {total} bytes, over the limit of {limits.max_total_bytes}")


def _check_on_disk(directory: Path, limits: ExtractionLimits) -> list[Path]:
    """The files really written; links that point outside are refused, whatever the listing said. A link is
    judged by its text too, not only by where it leads now: 7-Zip writes an absolute target as a path under the
    folder it extracts into, which leads outside once the folder is renamed."""
    files: list[Path] = []
    total = 0
    real_root = directory.resolve()
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                continue
            target = os.readlink(path)
            within = path.parent.relative_to(directory).as_posix()
            if target.startswith("/") or not _inside(posixpath.join(within, target)) \
                    or not path.resolve().is_relative_to(real_root):
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


def _extract(kind: str, package: Path, into: Path, children: ChildProcesses,
             max_bytes: int) -> subprocess.CompletedProcess[bytes]:
    """With the file-size rlimit: a lying header cannot make one extracted file outgrow the whole budget."""
    if kind in SEVEN_ZIP_KINDS:
        return _seven_zip(package, children, "extract", "x", "-bd", "-y", "-snl", f"-o{into}",
                          file_size_limit=max_bytes)
    # unar opens rar, tar and the compressed tars in one pass (a .tar.gz becomes its files, not a .tar).
    return children.run(["unar", "-q", "-D", "-f", "-o", str(into), "--", str(package)], tool="unar",
                        command="extract", timeout=TOOL_TIMEOUT, file_size_limit=max_bytes)


def extract_package(
    package: Path,
    package_uuid: str,
    *,
    kind: str,
    at: datetime,
    event_path: str,
    delete_package: bool = False,
    limits: ExtractionLimits | None = None,
    children: ChildProcesses | None = None,
) -> Extraction:
    """Extract `package` next to itself; `event_path` is its Amber path, e.g. `%transferDirectory%objects/a.zip`.

    Each extracted file gets an `unpacking` event; a broken or hostile package fails with the reason and leaves
    nothing behind. `children`: the worker's, else some of this call's own.
    """
    if children is None:
        own = ChildProcesses()
        try:
            return extract_package(package, package_uuid, kind=kind, at=at, event_path=event_path,
                                   delete_package=delete_package, limits=limits, children=own)
        finally:
            own.close()
    limits = limits or ExtractionLimits()
    target = target_directory(package, at)
    detail = f"Unpacked from: {event_path} ({package_uuid})"
    if not target.exists():
        partial = target.with_name(f".{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            check_entries(list_entries(package, children, kind), limits)
            partial.mkdir()
            result = _extract(kind, package, partial, children, limits.max_total_bytes)
            if result.returncode != 0:
                raise UnsafePackage(f"extraction failed: {_tool_error(result)}")
            _make_accessible(partial)
            _check_on_disk(partial, limits)
        except (UnsafePackage, subprocess.TimeoutExpired, OSError, GuardUnavailable) as exc:
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
