"""File-name sanitization as Archivematica's "Change object and directory filenames" does it.

A name is transliterated to ASCII (unidecode), then every character outside `[A-Za-z0-9-_.()]` becomes `_`; a name
that would collide with a sibling gets `_1`, `_2`… before its extension. Planning and applying are separate so the
plan can be kept (it is plain data) and applied again after a crash: entries already renamed are recognised.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from unidecode import unidecode

from services.ingest.microservices.results import EventSpec, FileOutcome, Status

_UNSAFE = re.compile(r"[^A-Za-z0-9_.()-]")
# Undecodable bytes in a name arrive as lone surrogates (os.fsdecode); each stands for one unsafe character.
_SURROGATES = re.compile("[\udc80-\udcff]")
MAX_NAME_BYTES = 255
DEFAULT_PREFIX = "%transferDirectory%objects/"


def _amber_version() -> str:
    try:
        return version("amber")
    except PackageNotFoundError:
        return "0"


EVENT_DETAIL = f'prohibited characters removed: program="change_names"; version="{_amber_version()}"'
BAG_EVENT_DETAIL = (f'characters a BagIt manifest cannot hold replaced: program="change_names"; '
                    f'version="{_amber_version()}"')


def sanitize_name(name: str) -> str:
    ascii_name = unidecode(_SURROGATES.sub("?", name))
    cleaned = _UNSAFE.sub("_", ascii_name)
    if cleaned in ("", ".", ".."):
        cleaned = cleaned.replace(".", "_") or "_"
    return _fit(cleaned)


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _fit(name: str, suffix: str = "") -> str:
    """Cut the stem so that stem + suffix + extension stays within the file system's 255 bytes (never inside a
    character: a name that is already 255 bytes of multibyte characters must still get its suffix)."""
    stem, ext = os.path.splitext(name)
    if len(ext) > 32:
        stem, ext = name, ""
    room = MAX_NAME_BYTES - _bytes(ext) - _bytes(suffix)
    while _bytes(stem) > room:
        stem = stem[:-1]
    return stem + suffix + ext


def _with_suffix(name: str, n: int) -> str:
    return _fit(name, f"_{n}")


# What a BagIt 0.97 reader cannot take literally from a manifest line (bagit-python strips the line, decodes
# %0D/%0A whatever the version, and writes the manifest as UTF-8): CR/LF, a literal %0D or %0A, whitespace at the
# end of a name, and bytes that are not UTF-8.
_BAG_LINE_BREAK = re.compile(r"[\r\n]|%(?=0[AaDd])")
_TRAILING_SPACE = re.compile(r"\s+$")


def bag_safe_name(name: str) -> str:
    """The name with only what a BagIt 0.97 manifest cannot carry literally replaced by `_` (same length or
    shorter in bytes, so a 255-byte name never grows); everything else (`%`, `#`, spaces, any script) is kept."""
    cleaned = _SURROGATES.sub("_", _BAG_LINE_BREAK.sub("_", name))
    return _TRAILING_SPACE.sub(lambda match: "_" * len(match.group()), cleaned)


def nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def printable(name: str) -> str:
    """A path as text an XML document can hold: undecodable bytes shown as `\\xNN`."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class RenameOp:
    """One rename on disk, inside the parent's *original* path (children are renamed before their parents)."""

    parent: str
    old_name: str
    new_name: str
    is_dir: bool


@dataclass(frozen=True)
class PathChange:
    """An entry whose path changes, by its own rename or an ancestor's; paths relative to the root, `/`-joined."""

    old: str
    new: str
    is_dir: bool


@dataclass
class RenamePlan:
    root: Path
    ops: list[RenameOp] = field(default_factory=list)
    changes: list[PathChange] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        # Lone surrogates survive json.dumps/loads as \\udcNN escapes, so the plan can be journalled as JSON.
        return {
            "root": str(self.root),
            "ops": [asdict(op) for op in self.ops],
            "changes": [asdict(change) for change in self.changes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenamePlan:
        return cls(
            Path(data["root"]),
            [RenameOp(**op) for op in data["ops"]],
            [PathChange(**change) for change in data["changes"]],
        )


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _entries(path: Path) -> list[tuple[str, bool]]:
    with os.scandir(path) as it:
        return sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in it)


def _same(name: str) -> str:
    return name


def plan_renames(root: Path, sanitize: Callable[[str], str] = sanitize_name,
                 fold: Callable[[str], str] = _same) -> RenamePlan:
    """Walk `root` (not renamed itself) and plan every rename, deepest first, with no collisions.

    A new name never equals any name already in its directory nor another planned name there, so applying the
    plan never overwrites anything. With `fold` (e.g. NFC), names that fold alike count as one: all but the first
    (names already folded come first) are renamed, as readers that compare folded names (bagit-python) would
    otherwise take one file for the other.
    """
    plan = RenamePlan(root)
    # (original relative path, new relative path) of directories still to visit
    stack: list[tuple[str, str]] = [("", "")]
    while stack:
        old_dir, new_dir = stack.pop()
        entries = sorted(_entries(root / old_dir if old_dir else root), key=lambda e: (fold(e[0]) != e[0], e[0]))
        taken = {name for name, _ in entries}
        folded = {fold(name) for name in taken}
        settled: set[str] = set()
        for name, is_dir in entries:
            new_name = name
            wanted = sanitize(name)
            if wanted != name or fold(name) in settled:
                new_name, n = wanted, 1
                while new_name in taken or fold(new_name) in folded:
                    new_name = _with_suffix(wanted, n)
                    n += 1
                taken.add(new_name)
                folded.add(fold(new_name))
                plan.ops.append(RenameOp(old_dir, name, new_name, is_dir))
            settled.add(fold(new_name))
            old_path, new_path = _join(old_dir, name), _join(new_dir, new_name)
            if old_path != new_path:
                plan.changes.append(PathChange(old_path, new_path, is_dir))
            if is_dir:
                stack.append((old_path, new_path))
    # Deepest first: a directory is renamed only after everything inside it.
    plan.ops.sort(key=lambda op: op.parent.count("/") + (1 if op.parent else 0), reverse=True)
    return plan


class RenameConflict(RuntimeError):
    pass


def _locate(root: Path, old_parent: str, dir_renames: dict[str, str]) -> Path:
    """Where the parent is now: each ancestor under its old name, or its new one if a previous run renamed it."""
    here, old_path = root, ""
    for part in old_parent.split("/") if old_parent else ():
        old_path = _join(old_path, part)
        renamed = dir_renames.get(old_path)
        here = here / renamed if renamed and not os.path.lexists(here / part) else here / part
    return here


def _apply_op(root: Path, op: RenameOp, dir_renames: dict[str, str]) -> None:
    parent = _locate(root, op.parent, dir_renames)
    source, target = parent / op.old_name, parent / op.new_name
    if os.path.lexists(source):
        if os.path.lexists(target):
            raise RenameConflict(f"cannot rename {printable(str(source))}: {printable(str(target))} exists")
        os.rename(source, target)
    elif not os.path.lexists(target):
        # Neither the old nor the new name is there: the tree changed under us.
        raise RenameConflict(f"{printable(str(source))} is gone and was not renamed")


def rename_event(change: PathChange, prefix: str = DEFAULT_PREFIX) -> EventSpec:
    note = f'Original name="{prefix}{printable(change.old)}"; new name="{prefix}{printable(change.new)}"'
    return EventSpec("filename change", EVENT_DETAIL, "", note)


def apply_renames(plan: RenamePlan, prefix: str = DEFAULT_PREFIX) -> list[FileOutcome]:
    """Carry out `plan`; safe to run again after a crash. One outcome per `plan.changes` entry, in that order.

    `prefix` is prepended to the relative paths in the event notes (Archivematica's `%transferDirectory%objects/`).
    """
    dir_renames = {_join(op.parent, op.old_name): op.new_name for op in plan.ops if op.is_dir}
    for op in plan.ops:
        _apply_op(plan.root, op, dir_renames)
    return [
        FileOutcome(plan.root / change.new, Status.PASSED, (rename_event(change, prefix),),
                    f"renamed from {printable(change.old)}")
        for change in plan.changes
    ]
