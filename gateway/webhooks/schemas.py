"""Wire schemas of webhook endpoints and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, UrlConstraints

WebhookUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["http", "https"])]
EventTypePrefix = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.]{1,100}$")]


class DeliveryStatus(StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class WebhookCreate(BaseModel):
    url: WebhookUrl = Field(description="Where events are POSTed (http or https).")
    description: str = Field(default="", max_length=500)
    event_types: list[EventTypePrefix] = Field(
        default_factory=list, max_length=100,
        description="Event type prefixes to send (`ingest.`, `fixity.failed`, `aip.stored.v1`); empty: all.",
    )


class WebhookUpdate(BaseModel):
    url: WebhookUrl | None = None
    description: str | None = Field(default=None, max_length=500)
    event_types: list[EventTypePrefix] | None = Field(default=None, max_length=100)
    enabled: bool | None = Field(default=None, description="Enabling again resumes the deliveries left pending.")


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None = Field(description="Why the endpoint was disabled (by an admin or for failing).")
    disabled_at: datetime | None
    failing_since: datetime | None = Field(description="Failing without a success since then.")
    previous_secret_expires_at: datetime | None = Field(description="Until then the old secret signs too.")
    created_by: str
    created_at: datetime
    updated_at: datetime


class WebhookSecret(BaseModel):
    """Shown when the endpoint is created and when its secret is rotated; never again."""

    secret: str = Field(description="The `whsec_` secret that signs deliveries (Standard Webhooks).")
    previous_secret_expires_at: datetime | None = None


class WebhookCreated(WebhookRead):
    secret: str = Field(description="The `whsec_` secret that signs deliveries; shown only now.")


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint_id: uuid.UUID
    event_row_id: int = Field(description="The event's id in the event log (`GET /api/v1/events`).")
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    response_code: int | None = Field(description="The receiver's HTTP status at the last attempt.")
    latency_ms: int | None = Field(description="How long the last attempt took.")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
