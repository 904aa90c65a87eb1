"""On PostgreSQL, file paths sort byte-wise (COLLATE "C"), which the METS structMap relies on."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

import services.metadata.main
from servicekit import migrations

MIGRATIONS_DIR = Path(services.metadata.main.__file__).parent / "migrations"


async def test_paths_sort_bytewise(db_engine: AsyncEngine) -> None:
    await migrations.upgrade(db_engine, MIGRATIONS_DIR)
    if db_engine.dialect.name != "postgresql":
        return  # SQLite's default BINARY collation already compares bytes
    async with db_engine.connect() as conn:
        columns = await conn.run_sync(lambda sync: inspect(sync).get_columns("file"))
    assert {c["name"]: getattr(c["type"], "collation", None) for c in columns}["path"] == "C"
