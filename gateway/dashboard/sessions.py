"""Signing in and out: the key is checked through the public API (`GET /me`), never against the key table, so
the dashboard accepts exactly the keys the API accepts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.dashboard import repository, sealing
from gateway.dashboard.models import DashboardSession
from servicekit.db import utcnow
from servicekit.roles import Role


@dataclass(frozen=True)
class Credentials:
    username: str
    key: str


async def verify(http: httpx.AsyncClient, username: str, key: str) -> Role | None:
    """The user's role when the API accepts the key as theirs; None otherwise."""
    response = await http.get("/me", headers={"Authorization": f"ApiKey {username}:{key}"})
    if response.status_code != 200 or response.json().get("username") != username:
        return None
    return Role(response.json()["role"])


async def open_session(db: AsyncSession, credentials: Credentials, hours: float) -> str:
    """Store the sealed key and answer the token for the cookie; expired sessions are swept on the way."""
    now = utcnow()
    await repository.remove_expired(db, now)
    token = sealing.new_token()
    await repository.add(db, DashboardSession(
        token_sha256=sealing.token_id(token), username=credentials.username,
        sealed_key=sealing.seal(token, credentials.key), expires_at=now + timedelta(hours=hours),
    ))
    return token


async def resume(db: AsyncSession, token: str) -> Credentials | None:
    row = await repository.find(db, sealing.token_id(token))
    if row is None or row.expires_at <= utcnow():
        return None
    try:
        return Credentials(row.username, sealing.unseal(token, row.sealed_key))
    except InvalidTag:
        return None


async def close_session(db: AsyncSession, token: str) -> None:
    await repository.remove(db, sealing.token_id(token))
