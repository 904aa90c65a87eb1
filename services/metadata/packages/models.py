"""The package table."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlmodel import Field

from servicekit.db import UTCDateTime
from services.metadata.db import MetadataTable


class Package(MetadataTable, table=True):
    __tablename__ = "package"

    uuid: UUID = Field(primary_key=True)
    name: str = Field(max_length=255)
    transfer_uuid: UUID | None = Field(default=None)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
