"""The indexing state of each package. The index itself (search_entry and its full-text companion) is built by
the migration with each database's own full-text machinery, and queried by `search.repository` alone."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Text
from sqlmodel import Field

from servicekit.db import UTCDateTime
from services.metadata.db import MetadataTable


class SearchState(MetadataTable, table=True):
    __tablename__ = "search_state"

    package_uuid: UUID = Field(foreign_key="package.uuid", primary_key=True)
    state: str = Field(max_length=16, index=True)
    requested_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    indexed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, sa_type=Text)
