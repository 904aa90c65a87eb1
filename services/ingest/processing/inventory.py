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

GRANULE = 25  # files; a batch is a whole number of granules
MIN_BATCH = 100  # files: below this a batch's fixed costs (its job, its records) weigh


@dataclass
class RoundInventory:
    batches: list[Batch] = field(default_factory=list)
    batch_of: dict[str, int] = field(default_factory=dict)
    count: int = 0
    total: int = 0


def write_inventory(target: Path, data_dir: Path, roots: Iterable[Path], *, batch_size: int, first_index: int,
                    round_: int, original_of: Mapping[str, str], spread: int = 1) -> RoundInventory:
    """List every file under `roots` (paths relative to `data_dir`), sorted; `original_of` maps a renamed file's
    path to the path it arrived with.

    Batches hold at most `batch_size` files, and fewer when that leaves under `spread` batches (down to
    MIN_BATCH files): a 1,000-file transfer in two batches of 500 would keep two threads of one worker busy while
    the others, and the other workers, wait. The files are first cut into granules of GRANULE, then the granules
    into batches, once the count is known."""
    temp = target.with_name(target.name + ".part")
    found = RoundInventory()
    refused: list[str] = []
    offset = 0
    granule = min(GRANULE, batch_size)
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
                    if found.count % granule == 0:
                        found.batches.append(Batch(index=len(found.batches), offset=offset, count=0, round=round_))
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
    return _in_batches(found, granule, batch_size, spread, first_index)


def _in_batches(found: RoundInventory, granule: int, batch_size: int, spread: int,
                first_index: int) -> RoundInventory:
    """Granules (the inventory's batches so far, indexed from 0) merged into batches numbered from `first_index`."""
    size = min(batch_size, max(MIN_BATCH, -(-found.count // max(1, spread))))
    per_batch = max(1, size // granule)
    batches: list[Batch] = []
    for start in range(0, len(found.batches), per_batch):
        granules = found.batches[start:start + per_batch]
        batches.append(Batch(index=first_index + len(batches), offset=granules[0].offset,
                             count=sum(g.count for g in granules), round=granules[0].round))
    found.batch_of = {path: first_index + granule // per_batch for path, granule in found.batch_of.items()}
    found.batches = batches
    return found


def read_batch(inventory: Path, batch: Batch) -> list[dict[str, Any]]:
    with inventory.open("rb") as handle:
        handle.seek(batch.offset)
        return [json.loads(handle.readline()) for _ in range(batch.count)]
