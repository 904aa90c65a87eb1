"""Dashboard sign-in sessions.

The row never holds anything that opens the API by itself: it is found by the SHA-256 of the cookie's token, and
the user's API key is sealed (AES-GCM) under a key derived from that token, which only the browser has. A copy
of the database therefore signs no one in and reveals no key.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field

from gateway.db import GatewayTable
from gateway.users.models import USERNAME_LENGTH
from servicekit.db import UTCDateTime, utcnow


class DashboardSession(GatewayTable, table=True):
    __tablename__ = "dashboard_sessions"

    token_sha256: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=USERNAME_LENGTH, index=True)
    sealed_key: bytes
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
