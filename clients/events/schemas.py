"""Wire schemas of the gateway's event log and stream (`GET /api/v1/events`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Position in the stack's event log; the SSE id to resume from (`Last-Event-ID`).")
    event_id: uuid.UUID = Field(description="The event's own id, the same in every copy (webhooks' `webhook-id`).")
    source: str = Field(description="The service that owns the fact: transfer, ingest or storage.")
    type: str = Field(description="Stable, versioned name, e.g. `ingest.stored.v1`.")
    subject: uuid.UUID | None = Field(description="The package (transfer, SIP/AIP, DIP) the event is about.")
    related: uuid.UUID | None = Field(description="Another package it concerns (an ingest's transfer, …).")
    occurred_at: datetime
    collected_at: datetime
    payload: dict[str, Any]


# The SSE message type (no id: it moves no resumption point) telling a stream it starts below what the retention
# purge has deleted; the same mark is the `PURGED_HEADER` of the response.
PURGED_EVENT = "events.purged"
PURGED_HEADER = "Amber-Events-Purged-Through"


class EventsPurged(BaseModel):
    after: int = Field(description="Where the stream stood: the events after this id were asked for.")
    purged_through: int = Field(
        description="The highest id the retention purge deleted: events between `after` and it may be missing "
        "(those still kept follow as usual)."
    )
