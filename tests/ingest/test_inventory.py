"""The inventory's batches: at most `batch_size` files, fewer when that keeps the package's batch slots busy, never
under the minimum, each file in exactly one batch and each batch a contiguous run of the inventory's lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.processing.inventory import MIN_BATCH, read_batch, write_inventory


def make_files(root: Path, count: int) -> None:
    for number in range(count):
        folder = root / f"box-{number // 300:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"item-{number:05d}.txt").write_text(str(number))


@pytest.mark.parametrize(("count", "batch_size", "spread", "sizes"), [
    (1000, 500, 8, [125] * 8),  # two batches of 500 would leave six of eight slots idle
    (10_000, 500, 8, [500] * 20),  # enough files: the full size
    (150, 500, 8, [100, 50]),  # never under the minimum (the last one holds the rest)
    (7, 2, 8, [2, 2, 2, 1]),  # a batch size under a granule is kept as it is
    (1000, 500, 1, [500, 500]),
])
def test_batches_spread_the_files(tmp_path: Path, count: int, batch_size: int, spread: int,
                                  sizes: list[int]) -> None:
    data = tmp_path / "data"
    make_files(data / "objects", count)
    found = write_inventory(tmp_path / "inventory", data, [data / "objects"], batch_size=batch_size,
                            first_index=3, round_=1, original_of={}, spread=spread)
    assert [b.count for b in found.batches] == sizes
    assert [b.index for b in found.batches] == list(range(3, 3 + len(sizes)))
    assert all(b.round == 1 for b in found.batches)
    seen: list[str] = []
    for batch in found.batches:
        entries = read_batch(tmp_path / "inventory", batch)
        assert all(found.batch_of[e["p"]] == batch.index for e in entries)
        seen += [e["p"] for e in entries]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == count == found.count
    assert MIN_BATCH == 100
