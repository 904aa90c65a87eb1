"""Wire schemas of a service's outbox: the domain events it recorded and not yet handed to the gateway."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class OutboxEvent(BaseModel):
    event_id: UUID = Field(description="Unique per event, kept by every copy of it (the webhook-id).")
    source: str = Field(description="The service that owns the fact: transfer, ingest, storage.")
    type: str = Field(description="Stable, versioned name, e.g. `ingest.stored.v1`.")
    subject: UUID | None = Field(default=None, description="The package the event is about.")
    related: UUID | None = Field(
        default=None, description="Another package it concerns (an ingest's transfer, a transfer's ingest)."
    )
    occurred_at: datetime
    payload: dict[str, Any] = Field(default_factory=dict)


class OutboxBatch(BaseModel):
    events: list[OutboxEvent] = Field(description="The oldest events not yet acknowledged, oldest first.")


class OutboxAck(BaseModel):
    event_ids: list[UUID] = Field(max_length=1000, description="Events the gateway has kept: the outbox drops them.")


class OutboxAcknowledged(BaseModel):
    dropped: int = Field(description="How many of the events were still in the outbox.")
