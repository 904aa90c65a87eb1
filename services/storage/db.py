"""The storage service's table base."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

metadata = MetaData()


class StorageModel(SQLModel, registry=registry(metadata=metadata)):
    """Base of the storage tables: a registry of their own, so other services' tables never mix in."""
