"""A worker that cannot start ends the tools it had already started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.ingest.processing import worker
from services.ingest.settings import IngestSettings
from tests.signatures import write_test_signatures
from tests.tool_processes import tool_processes, tools_left


async def test_a_worker_that_fails_after_its_tools_started_stops_them(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = IngestSettings(data_dir=tmp_path, clamav_database_dir=write_test_signatures(tmp_path / "clamav"),
                              clamd_socket=None, worker_metrics_port=0)
    running: dict[int, str] = {}

    async def connected(_settings: IngestSettings) -> None:
        return None

    def unmade(*_args: Any, **_options: Any) -> None:
        running.update(tool_processes())
        raise RuntimeError("the Temporal worker could not be made")

    monkeypatch.setattr(worker, "connect", connected)
    monkeypatch.setattr(worker, "Worker", unmade)
    before = set(tool_processes())
    with pytest.raises(RuntimeError, match="could not be made"):
        await worker.run_worker(settings)
    assert any(line.startswith("clamd:") for line in running.values()), running
    assert tools_left(before, grace=0) == {}
