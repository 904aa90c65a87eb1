"""The API keys table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field

from gateway.db import GatewayTable
from servicekit.db import UTCDateTime, utcnow
from servicekit.ids import new_id

PREFIX_LENGTH = 8


class ApiKey(GatewayTable, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=200)
    key_hash: str = Field(max_length=64, index=True, unique=True)
    prefix: str = Field(max_length=PREFIX_LENGTH, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
