"""The transfer structure report: a `tree`-style listing of the objects folder, written as the walk goes.

Archivematica runs `tree` into `metadata/directory_tree.txt`; this produces the same drawing without the binary,
one directory listed at a time, so a tree of any size needs memory only for its depth.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

# `tree` pads the vertical bar with two no-break spaces; matching it byte for byte keeps reports comparable.
BRANCH, LAST, PIPE, SPACE = "├── ", "└── ", "│\u00a0\u00a0 ", "    "


@dataclass(frozen=True)
class StructureSummary:
    directories: int
    files: int


def _children(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda entry: entry.name)
    except OSError:
        return []


def _lines(root: Path, counts: list[int]) -> Iterator[str]:
    # Each stack frame: (iterator over a directory's remaining entries, indentation prefix of its children).
    stack: list[tuple[Iterator[tuple[int, os.DirEntry[str]]], str, int]] = []
    first = _children(root)
    stack.append((iter(enumerate(first)), "", len(first)))
    while stack:
        entries, prefix, total = stack[-1]
        item = next(entries, None)
        if item is None:
            stack.pop()
            continue
        index, entry = item
        last = index == total - 1
        name = entry.name
        if entry.is_symlink():
            name += f" -> {os.readlink(entry.path)}"
        yield prefix + (LAST if last else BRANCH) + name
        if entry.is_symlink():
            # tree counts a link by what it points to, without following it.
            counts[2 if entry.is_dir() else 1] += 1
        elif entry.is_dir(follow_symlinks=False):
            counts[0] += 1
            children = _children(Path(entry.path))
            stack.append((iter(enumerate(children)), prefix + (SPACE if last else PIPE), len(children)))
        else:
            counts[1] += 1


def write_structure_report(root: Path, output: Path, label: str | None = None) -> StructureSummary:
    """Write the listing of `root` to `output` (atomically: a crash leaves the old report or none)."""
    # directories, files (links to files included), links to directories
    counts = [0, 0, 0]
    partial = output.with_name(f".{output.name}.partial")
    output.parent.mkdir(parents=True, exist_ok=True)
    # Names are written byte for byte (surrogateescape), as `tree -N` does.
    with partial.open("w", encoding="utf-8", errors="surrogateescape", newline="\n") as handle:
        _write(handle, root, label or root.name, counts)
    os.replace(partial, output)
    return StructureSummary(directories=counts[0], files=counts[1])


def _write(handle: TextIO, root: Path, label: str, counts: list[int]) -> None:
    handle.write(label + "\n")
    for line in _lines(root, counts):
        handle.write(line + "\n")
    # Like tree 2.x, the root and links to directories count as directories.
    directories = counts[0] + counts[2] + 1
    dirs = "directory" if directories == 1 else "directories"
    files = "file" if counts[1] == 1 else "files"
    handle.write(f"\n{directories} {dirs}, {counts[1]} {files}\n")
