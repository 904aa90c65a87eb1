"""The gateway's own table registry, kept apart from every other service's metadata."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class GatewayTable(SQLModel, registry=registry()):
    """Base of the gateway's tables: a registry of their own so Alembic sees only the gateway's tables."""
