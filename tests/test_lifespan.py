"""A service app's lifespan runs once at a time: a second start while it runs would replace the first one's state,
and the first one's background tasks would run on after both stops."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.metadata.main import create_app
from services.metadata.settings import MetadataSettings


def running_indexers() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "search-indexer" and not task.done()]


async def test_a_running_app_cannot_be_started_again_and_stops_all_it_started(tmp_path: Path) -> None:
    app = create_app(MetadataSettings(data_dir=tmp_path, internal_token="lifespan-test-token"))
    before = running_indexers()
    async with app.router.lifespan_context(app):
        with pytest.raises(RuntimeError, match="already running"):
            async with app.router.lifespan_context(app):
                pass
    assert running_indexers() == before
    async with app.router.lifespan_context(app):  # once stopped, it starts again
        assert len(running_indexers()) == len(before) + 1
    assert running_indexers() == before
