"""Webhook endpoints and their deliveries: one delivery per endpoint and event, whatever its attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, UniqueConstraint
from sqlmodel import Field

from gateway.db import GatewayTable
from servicekit.db import UTCDateTime, utcnow
from servicekit.ids import new_id


class WebhookEndpoint(GatewayTable, table=True):
    __tablename__ = "webhook_endpoints"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    url: str = Field(max_length=2048)
    description: str = Field(default="", max_length=500)
    # Type prefixes the endpoint wants (`ingest.`, `fixity.failed`); empty: every event.
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=100)
    # After a rotation the old secret signs too, until it expires, so a receiver can switch without a gap.
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    enabled: bool = Field(default=True)
    disabled_reason: str | None = Field(default=None, max_length=2000)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the endpoint began failing without a success since; long enough and it is disabled.
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: str = Field(max_length=150)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookDelivery(GatewayTable, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_row_id"),)

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: uuid.UUID = Field(sa_column=Column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
                                                    nullable=False, index=True))
    # Indexed: the retention purge keeps every event a delivery still refers to.
    event_row_id: int = Field(sa_column=Column(ForeignKey("events.id"), nullable=False, index=True))
    event_type: str = Field(max_length=100)
    # pending (to send, at next_attempt_at), succeeded, or failed (given up after the retry window).
    status: str = Field(default="pending", max_length=20, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True,
                                                                              index=True))
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    response_code: int | None = None
    latency_ms: int | None = None
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
