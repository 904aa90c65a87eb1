"""The users table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field

from gateway.db import GatewayTable
from servicekit.db import UTCDateTime, utcnow
from servicekit.ids import new_id


class User(GatewayTable, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    username: str = Field(max_length=150, index=True, unique=True)
    is_admin: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
