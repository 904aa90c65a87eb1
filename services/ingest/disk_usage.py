"""How many bytes a tree of files holds, measured while something else may be changing it."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def tree_size(*paths: Path) -> int:
    """Bytes in the regular files at or under `paths`, symbolic links not followed.

    The trees are live: a running tool's scratch folder (LibreOffice makes and drops its profile's folders), or an
    ingest's files that another clean-up is removing. A file or folder that goes between being listed and being
    read counts as empty, not as an error.
    """
    total = 0
    folders: list[str] = []
    for path in paths:
        with contextlib.suppress(OSError):
            info = path.lstat()
            if stat.S_ISDIR(info.st_mode):
                folders.append(str(path))
            elif stat.S_ISREG(info.st_mode):
                total += info.st_size
    while folders:
        try:
            with os.scandir(folders.pop()) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total
