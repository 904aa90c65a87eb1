"""The users table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field

from gateway.db import GatewayTable
from servicekit.db import UTCDateTime, utcnow
from servicekit.ids import new_id
from servicekit.roles import Role

USERNAME_LENGTH = 150


class User(GatewayTable, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    username: str = Field(max_length=USERNAME_LENGTH, index=True, unique=True)
    # A plain string column (no database enum) so that a new role needs no schema change; the values are Role's.
    role: str = Field(default=Role.reader.value, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_by: str | None = Field(default=None, max_length=USERNAME_LENGTH)
