"""The gateway's migrations build exactly the tables its models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import GatewayTable
from gateway.migrations import MIGRATIONS_DIR
from servicekit import migrations


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [diff for diff in compare_metadata(context, GatewayTable.metadata) if diff[0] != "remove_table"]


async def test_migrations_match_the_models(db_engine: AsyncEngine) -> None:
    await migrations.upgrade(db_engine, MIGRATIONS_DIR)
    await migrations.upgrade(db_engine, MIGRATIONS_DIR)  # a second run is a no-op
    async with db_engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert {"users", "api_keys", "alembic_version"} <= tables
        assert await conn.run_sync(_differences) == []
