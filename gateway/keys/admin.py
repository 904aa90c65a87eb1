"""Key management without HTTP, for the `amber` CLI: each call migrates the database first, then commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.keys import service
from gateway.migrations import MIGRATIONS_DIR
from gateway.schemas import KeyRead
from gateway.settings import GatewaySettings
from servicekit import migrations
from servicekit.db import create_engine, session_factory, session_scope


@asynccontextmanager
async def _session(settings: GatewaySettings, engine: AsyncEngine | None) -> AsyncIterator[AsyncSession]:
    own_engine = engine is None
    bound = engine or create_engine(settings.effective_database_url)
    try:
        await migrations.upgrade(bound, MIGRATIONS_DIR)
        async for session in session_scope(session_factory(bound)):
            yield session
    finally:
        if own_engine:
            await bound.dispose()


async def ensure_admin(settings: GatewaySettings, *, engine: AsyncEngine | None = None) -> tuple[str, str] | None:
    """Create user "admin" and a key when the stack has no user yet.

    Returns (username, clear key) only when it created them; None when users already exist.
    """
    try:
        async with _session(settings, engine) as session:
            created = await service.bootstrap_admin(session)
    except IntegrityError:
        # Another process bootstrapped the same database at the same moment; its admin stands.
        return None
    return (created.username, created.key) if created else None


async def create_key(
    settings: GatewaySettings, username: str, name: str, *, engine: AsyncEngine | None = None
) -> str:
    """Issue a key for `username` (created, not as an administrator, if missing); returns the clear key."""
    async with _session(settings, engine) as session:
        created = await service.create_for_username(session, username, name)
    return created.key


async def list_keys(settings: GatewaySettings, *, engine: AsyncEngine | None = None) -> list[KeyRead]:
    """Every key, revoked ones included, oldest first."""
    keys: list[KeyRead] = []
    async with _session(settings, engine) as session:
        offset, limit = 0, 1000
        while True:
            page, total = await service.list_page(session, limit=limit, offset=offset)
            keys.extend(page)
            offset += limit
            if offset >= total or not page:
                return keys


async def revoke_key(
    settings: GatewaySettings, key_id_or_prefix: str, *, engine: AsyncEngine | None = None
) -> bool:
    """Revoke by key id or by the key's listed prefix; False when no key matches.

    Raises servicekit.problems.Problem (409) when a prefix matches several keys.
    """
    async with _session(settings, engine) as session:
        revoked = await service.revoke_by_id_or_prefix(session, key_id_or_prefix)
    return revoked is not None
