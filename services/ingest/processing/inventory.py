"""The inventory: one JSON line per file of a round, cut into batches by byte offset.

A batch carries only its offset and count, so the workflow's history stays small however many files there are;
the activity reads its lines straight from the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

from services.ingest.processing.params import Batch


@dataclass
class RoundInventory:
    batches: list[Batch] = field(default_factory=list)
    batch_of: dict[str, int] = field(default_factory=dict)
    count: int = 0
    total: int = 0


def write_inventory(target: Path, data_dir: Path, roots: Iterable[Path], *, batch_size: int, first_index: int,
                    round_: int, original_of: Mapping[str, str]) -> RoundInventory:
    """List every file under `roots` (paths relative to `data_dir`), sorted; `original_of` maps a renamed file's
    path to the path it arrived with."""
    temp = target.with_name(target.name + ".part")
    found = RoundInventory()
    refused: list[str] = []
    offset = 0
    with temp.open("wb") as out:
        for root in roots:
            for dirpath, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(files):
                    path = Path(dirpath) / name
                    relative = path.relative_to(data_dir).as_posix()
                    stat = path.lstat()
                    if not path.is_file() or path.is_symlink():
                        refused.append(relative)
                        continue
                    if found.count % batch_size == 0:
                        found.batches.append(Batch(index=first_index + len(found.batches), offset=offset, count=0,
                                                   round=round_))
                    record: dict[str, Any] = {"p": relative, "s": stat.st_size, "m": stat.st_mtime}
                    if relative in original_of:
                        record["o"] = original_of[relative]
                    line = json.dumps(record).encode() + b"\n"
                    out.write(line)
                    found.batch_of[relative] = found.batches[-1].index
                    offset += len(line)
                    found.count += 1
                    found.total += stat.st_size
                    last = found.batches[-1]
                    found.batches[-1] = Batch(index=last.index, offset=last.offset, count=last.count + 1,
                                              round=round_)
        out.flush()
        os.fsync(out.fileno())
    if refused:
        temp.unlink(missing_ok=True)
        raise ApplicationError(f"not regular files (links, devices): {', '.join(refused[:20])}", non_retryable=True)
    temp.replace(target)
    return found


def read_batch(inventory: Path, batch: Batch) -> list[dict[str, Any]]:
    with inventory.open("rb") as handle:
        handle.seek(batch.offset)
        return [json.loads(handle.readline()) for _ in range(batch.count)]
