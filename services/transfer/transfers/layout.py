"""The standard transfer layout, what may enter it, and copying a folder into it.

A transfer folder holds `objects/` (the material), optionally `metadata/` and `logs/`. Sources that are already
laid out keep their structure; any other source is put under `objects/` whole. Later features (bags, checksum
files, submission documentation) plug in by recognising their structure before `plan_layout` runs.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from clients.transfer.schemas import TransferType
from servicekit.problems import Problem

STANDARD_FOLDERS = frozenset({"objects", "metadata", "logs"})
PROCESSING_CONFIGURATION = "processingMCP.xml"
MAC_ICON = "Icon\r"
COPY_CHUNK = 1024 * 1024
MAX_LISTED = 100


@dataclass(frozen=True)
class Placement:
    file_count: int
    size: int
    transfer_type: TransferType | None = None


class TransferRefused(Problem):
    """The material cannot become a transfer as it is (422); `entries` names what is wrong with which entry."""

    def __init__(self, detail: str, entries: Sequence[tuple[str, str]] = ()) -> None:
        errors = [{"entry": entry, "reason": reason} for entry, reason in entries[:MAX_LISTED]]
        super().__init__(422, "Transfer refused", detail, errors=errors or None)


def shown(name: str) -> str:
    """A name as it can be printed and sent as JSON: undecodable bytes and control characters escaped."""
    try:
        text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no undecodable byte
        text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def name_problem(name: str) -> str | None:
    """Why a file or folder name cannot be kept (it would break METS/PREMIS XML or the tools), if it cannot."""
    if name == MAC_ICON:
        # macOS's custom-icon file: accepted only to be removed as junk at intake (with a `file removed` event).
        return None
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name):
        return "has control characters in its name"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "has a name that is not valid UTF-8"
    return None


def mode_problem(mode: int) -> str | None:
    """Why a file of this type cannot be transferred; only regular files and folders can."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISLNK(mode):
        return "is a symbolic link (links are not accepted in transfers)"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device file"
    if stat.S_ISSOCK(mode):
        return "is a socket"
    return "is not a regular file or folder"


def plan_layout(root: Path) -> list[tuple[Path, PurePosixPath]]:
    """Where each top-level item of a transfer root goes: (item, destination relative to the transfer folder).

    `objects/`, `metadata/` and `logs/` are reserved names at the top: those folders stay where they are, and
    anything else joins `objects/` (as Archivematica's restructuring does), so the checksum files and metadata of a
    transfer sent without an `objects/` folder are still read as such.
    """
    with os.scandir(root) as scan:
        items = sorted(scan, key=lambda entry: entry.name)
    laid_out = any(item.name == "objects" and item.is_dir(follow_symlinks=False) for item in items)
    kept: list[tuple[Path, PurePosixPath]] = []
    plan: list[tuple[Path, PurePosixPath]] = []
    for item in items:
        if (item.name in STANDARD_FOLDERS and item.is_dir(follow_symlinks=False)) or (
            item.name == PROCESSING_CONFIGURATION and item.is_file(follow_symlinks=False)
        ):
            kept.append((Path(item.path), PurePosixPath(item.name)))
            continue
        if laid_out and os.path.lexists(root / "objects" / item.name):
            raise TransferRefused(
                f"'{shown(item.name)}' at the top level would collide with 'objects/{shown(item.name)}'",
                [(shown(item.name), "collides with an item of the same name in objects/")],
            )
        plan.append((Path(item.path), PurePosixPath("objects", item.name)))
    # The kept folders come first: `objects/` must exist before other items join it.
    return kept + plan


def scan_source(source: Path) -> int:
    """Refuse a source holding anything but regular files and folders with usable names, listing the offenders.

    Returns the total size of its files."""
    offenders: list[tuple[str, str]] = []
    files = size = 0
    folders = [source]
    while folders:
        folder = folders.pop()
        with os.scandir(folder) as scan:
            for entry in scan:
                relative = os.path.relpath(entry.path, source)
                reason = mode_problem(entry.stat(follow_symlinks=False).st_mode) or name_problem(entry.name)
                if reason:
                    offenders.append((shown(relative), reason))
                elif entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
                else:
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
    if offenders:
        offenders.sort()
        listed = ", ".join(f"'{entry}' {reason}" for entry, reason in offenders[:5])
        more = f" and {len(offenders) - 5} more" if len(offenders) > 5 else ""
        raise TransferRefused(
            f"The source holds {len(offenders)} entries that cannot be transferred: {listed}{more}", offenders
        )
    if files == 0:
        raise TransferRefused("The source holds no files")
    return size


def copy_to_staging(source: Path, staging: Path, max_bytes: int | None = None) -> Path:
    """Copy a folder's content (or a single file) into the new folder `staging`, keeping mtimes; returns it.

    Nothing is followed: a source entry that turns into a link or a special file while copying is refused.
    """
    if source.is_dir() and not source.is_symlink():
        size = scan_source(source)
        items = [Path(entry.path) for entry in os.scandir(source)]
    else:
        reason = mode_problem(os.lstat(source).st_mode) or name_problem(source.name)
        if reason:
            raise TransferRefused(f"'{shown(source.name)}' {reason}", [(shown(source.name), reason)])
        size = os.lstat(source).st_size
        items = [source]
    if max_bytes is not None and size > max_bytes:
        raise TransferRefused(f"The transfer holds {size} bytes, over the quota of {max_bytes} bytes per transfer")
    staging.mkdir(parents=True)
    folders: list[tuple[Path, os.stat_result]] = []
    pending = [(item, staging / item.name) for item in items]
    while pending:
        item, destination = pending.pop()
        info = os.lstat(item)
        if stat.S_ISDIR(info.st_mode):
            destination.mkdir()
            folders.append((destination, info))
            with os.scandir(item) as scan:
                pending.extend((Path(entry.path), destination / entry.name) for entry in scan)
        else:
            copy_file(item, destination)
    # Children first, so writing into a folder does not change its restored mtime again.
    for destination, info in reversed(folders):
        os.utime(destination, ns=(info.st_atime_ns, info.st_mtime_ns))
    return staging


def copy_file(source: Path, destination: Path) -> int:
    """Copy one regular file (never through a link), keeping its mtime and permission bits; returns its size."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(source, flags)
    except OSError as exc:
        if os.path.islink(source):
            raise TransferRefused(
                f"'{shown(source.name)}' became a symbolic link while being copied",
                [(shown(str(source)), "is a symbolic link (links are not accepted in transfers)")],
            ) from exc
        raise
    with os.fdopen(fd, "rb") as reader:
        info = os.fstat(reader.fileno())
        reason = mode_problem(info.st_mode)
        if reason or stat.S_ISDIR(info.st_mode):
            raise TransferRefused(f"'{shown(source.name)}' changed while being copied and {reason or 'is a folder'}")
        with destination.open("xb") as writer:
            shutil.copyfileobj(reader, writer, COPY_CHUNK)
            copied = writer.tell()
    os.chmod(destination, stat.S_IMODE(info.st_mode) & 0o777 | 0o600)
    os.utime(destination, ns=(info.st_atime_ns, info.st_mtime_ns))
    return copied


def move_into_layout(
    root: Path, target: Path, on_move: Callable[[str, str], None] | None = None
) -> None:
    """Move a staged tree's top-level items into a new transfer folder, laid out (renames, no copying).

    `on_move(old, new)` hears of every item that does not keep its place (loose files joining objects/).
    """
    plan = plan_layout(root)
    make_transfer_folder(target, plan)
    laid_out = any(destination == PurePosixPath("objects") for _item, destination in plan)
    for item, destination in plan:
        os.rename(item, target.joinpath(destination))
        if on_move is not None and laid_out and destination.parts[0] == "objects" and len(destination.parts) > 1:
            on_move(item.name, destination.as_posix())


def make_transfer_folder(target: Path, plan: list[tuple[Path, PurePosixPath]]) -> None:
    """The new, empty transfer folder, with `objects/` unless the plan brings its own."""
    target.mkdir(parents=True)
    if all(destination != PurePosixPath("objects") for _item, destination in plan):
        (target / "objects").mkdir()


def remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
