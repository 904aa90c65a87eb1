"""The gateway's ordered log of every service's domain events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column
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


class EventRetention(GatewayTable, table=True):
    """One row: how far the retention purge has reached. A client resuming from an id below `purged_through` may
    have missed events, and is told so."""

    __tablename__ = "event_retention"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    # The highest log id ever purged; events at or below it may be gone (some are kept while a delivery needs them).
    purged_through: int = Field(default=0)
    events_purged: int = Field(default=0, sa_type=BigInteger)
    deliveries_purged: int = Field(default=0, sa_type=BigInteger)
    purged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
