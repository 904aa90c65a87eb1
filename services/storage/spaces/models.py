"""The space table: one row per storage backend."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import Enum as SAEnum
from sqlmodel import Field

from servicekit.db import UTCDateTime, utcnow
from servicekit.ids import new_id
from services.storage.db import StorageModel


class SpaceProtocol(StrEnum):
    """How a space's bytes are reached; object storage protocols join later."""

    local_filesystem = "local_filesystem"


class Space(StorageModel, table=True):
    __tablename__ = "storage_spaces"

    uuid: UUID = Field(default_factory=new_id, primary_key=True)
    access_protocol: SpaceProtocol = Field(sa_type=SAEnum(SpaceProtocol, native_enum=False, length=32))
    path: str = Field(max_length=4096, description="Root of the space; locations' paths lie inside it.")
    description: str = Field(default="", max_length=1024)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
