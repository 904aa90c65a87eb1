"""Every service's migrations build exactly the tables its models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit import migrations

# (package whose main.py builds the app, where its table metadata lives, tables it must create)
SERVICES = {
    "gateway": ("gateway", "gateway.db:GatewayTable.metadata", {"users", "api_keys"}),
    "transfer": ("services.transfer", "services.transfer.db:metadata", {"transfer"}),
    "ingest": ("services.ingest", "services.ingest.ingests.models:metadata", {"ingest", "job"}),
    "metadata": ("services.metadata", "services.metadata.db:MetadataTable.metadata",
                 {"package", "file", "event", "agent", "event_agent"}),
    "storage": ("services.storage", "services.storage.db:metadata", set()),
}


def table_metadata(reference: str) -> MetaData:
    module_name, _, attribute_path = reference.partition(":")
    value: object = importlib.import_module(module_name)
    for attribute in attribute_path.split("."):
        value = getattr(value, attribute)
    assert isinstance(value, MetaData)
    return value


@pytest.mark.parametrize("service", list(SERVICES))
async def test_migrations_match_the_models(service: str, db_engine: AsyncEngine) -> None:
    package, reference, expected_tables = SERVICES[service]
    main = importlib.import_module(f"{package}.main")  # registers every model of the service
    assert main.__file__ is not None
    migrations_dir = Path(main.__file__).parent / "migrations"
    metadata = table_metadata(reference)
    assert metadata.tables, f"{service} registers no tables"

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            diff for diff in compare_metadata(context, metadata)
            if diff[0] != "remove_table"
            # indexes of tables a migration builds by hand (e.g. full-text ones), which no model describes
            and not (diff[0] == "remove_index" and diff[1].table.name not in metadata.tables)
        ]

    await migrations.upgrade(db_engine, migrations_dir)
    await migrations.upgrade(db_engine, migrations_dir)  # a second run is a no-op
    async with db_engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert expected_tables | set(metadata.tables) | {"alembic_version"} <= tables
        assert await conn.run_sync(differences) == []
