"""The gateway's ordered log of every service's domain events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field

from gateway.db import GatewayTable
from servicekit.db import UTCDateTime


class Event(GatewayTable, table=True):
    __tablename__ = "events"
    # Ids only grow and are never reused: they are the SSE ids clients resume from.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    # The id the service gave the event: one row per event however often it is collected.
    event_id: uuid.UUID = Field(unique=True)
    source: str = Field(max_length=20)
    type: str = Field(max_length=100, index=True)
    subject: uuid.UUID | None = Field(default=None, index=True)
    related: uuid.UUID | None = Field(default=None, index=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    collected_at: datetime = Field(sa_type=UTCDateTime)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
