"""The whole stack, started the way a user starts it (`amber up`) in a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack

Stack = EphemeralStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EphemeralStack]:
    # Small batches and a short heartbeat so the crash test sees many activities and a quick take-over.
    with ephemeral_stack(tmp_path_factory.mktemp("amber-data"), {
        "AMBER_INGEST_BATCH_SIZE": "100",
        "AMBER_INGEST_HEARTBEAT_TIMEOUT_SECONDS": "5",
        # The corpus normalization test sends three transfers at once; none need wait for a slot.
        "AMBER_INGEST_MAX_ACTIVE_INGESTS": "3",
        # Webhook retries in fractions of a second, so a receiver that was down catches up within the test.
        "AMBER_GATEWAY_WEBHOOK_INITIAL_BACKOFF_SECONDS": "0.2",
        "AMBER_GATEWAY_WEBHOOK_MAX_BACKOFF_SECONDS": "1",
        # An idle event stream checks its caller's key this often.
        "AMBER_GATEWAY_EVENTS_HEARTBEAT_SECONDS": "1",
    }) as running:
        yield running


def make_tree(root: Path, count: int, *, payload: int = 64) -> dict[str, bytes]:
    """`count` small files in nested folders; returns their relative paths and contents."""
    files: dict[str, bytes] = {}
    for index in range(count):
        relative = f"series-{index % 7}/box-{index % 13:02d}/item-{index:05d}.txt"
        content = (f"item {index}\n".encode() * (payload // 8 + 1))[: payload + index % 50]
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        files[relative] = content
    return files
