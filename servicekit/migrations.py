"""Alembic, driven from code: each service keeps its own migration scripts and version table."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(script_location: Path, url: str, schema: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["schema"] = schema
    return config


async def upgrade(engine: AsyncEngine, script_location: Path) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_sync, script_location, engine.url.render_as_string(hide_password=False))


def _upgrade_sync(connection: Connection, script_location: Path, url: str) -> None:
    config = alembic_config(script_location, url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def run_env(context: EnvironmentContext, target_metadata: MetaData) -> None:
    """Body of every service's `env.py`: online migrations on the connection handed in by `upgrade`."""
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("Amber migrations run through servicekit.migrations.upgrade, not the alembic CLI")
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
