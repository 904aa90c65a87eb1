"""The PREMIS event table and its links to agents."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import Text
from sqlmodel import Field

from servicekit.db import UTCDateTime
from services.metadata.db import MetadataTable


class Event(MetadataTable, table=True):
    __tablename__ = "event"

    uuid: UUID = Field(primary_key=True)
    package_uuid: UUID = Field(foreign_key="package.uuid", index=True, nullable=False)
    # Not a foreign key: the object is a file of the package or the package itself.
    object_uuid: UUID | None = Field(default=None, index=True)
    type: str = Field(max_length=100)
    datetime: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    detail: str = Field(default="", sa_type=Text)
    outcome: str = Field(default="", max_length=255)
    outcome_note: str = Field(default="", sa_type=Text)


class EventAgent(MetadataTable, table=True):
    __tablename__ = "event_agent"

    event_uuid: UUID = Field(foreign_key="event.uuid", primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", primary_key=True)
