from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.storage.harness import Storage, running_storage, settings_for


@pytest.fixture
async def storage(db_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Storage]:
    async with running_storage(settings_for(tmp_path), db_engine) as running:
        yield running
