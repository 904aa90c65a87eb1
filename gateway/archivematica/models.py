"""The adapter's own state: what Archivematica has and Amber's services do not.

- Hidden SIPs: Archivematica hides finished units from its lists; Amber's transfer service keeps a `hidden` flag
  for transfers, the ingest service none, so the gateway remembers the hidden ingests.
- Idempotency keys of `POST /api/v2beta/package/` (Archivematica 1.19): per user, the request they stood for
  and the transfer made (null while it is being made).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from gateway.db import GatewayTable
from gateway.users.models import USERNAME_LENGTH
from servicekit.db import UTCDateTime, utcnow
from servicekit.ids import new_id


class HiddenUnit(GatewayTable, table=True):
    __tablename__ = "archivematica_hidden_units"

    unit_uuid: uuid.UUID = Field(primary_key=True)
    unit_type: str = Field(max_length=20)
    hidden_by: str = Field(max_length=USERNAME_LENGTH)
    hidden_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class IdempotencyKey(GatewayTable, table=True):
    __tablename__ = "archivematica_idempotency_keys"
    __table_args__ = (UniqueConstraint("username", "key", name="uq_archivematica_idempotency_user_key"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    username: str = Field(max_length=USERNAME_LENGTH)
    key: str = Field(max_length=255)
    request_sha256: str = Field(max_length=64)
    transfer_uuid: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
