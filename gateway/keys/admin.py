"""Key and user management without HTTP, for the `amber` CLI: each call migrates the database first, then commits.

Whoever can run these can read the gateway's database anyway, so they act as an administrator; the rules the API
applies (a role for new users, at least one enabled administrator) hold here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.keys import service
from gateway.migrations import MIGRATIONS_DIR
from gateway.schemas import KeyRead, UserRead, UserUpdate
from gateway.settings import GatewaySettings
from gateway.users import service as users
from servicekit import migrations
from servicekit.db import create_engine, session_factory, session_scope
from servicekit.roles import Role

PAGE = 1000
T = TypeVar("T")


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
    settings: GatewaySettings, username: str, name: str, *, role: Role | None = None,
    engine: AsyncEngine | None = None,
) -> str:
    """Issue a key for `username` (created with `role`, reader when None, if missing); returns the clear key.

    Raises servicekit.problems.Problem (409) when `role` is not an existing user's, or the user is disabled.
    """
    async with _session(settings, engine) as session:
        created = await service.create_for_username(session, username, name, role)
    return created.key


async def _every_page(fetch: Callable[[int], Awaitable[tuple[list[T], int]]]) -> list[T]:
    """Every row, PAGE at a time from `fetch(offset)`: the services answer bounded pages only."""
    found: list[T] = []
    offset = 0
    while True:
        page, total = await fetch(offset)
        found.extend(page)
        offset += PAGE
        if offset >= total or not page:
            return found


async def list_keys(settings: GatewaySettings, *, engine: AsyncEngine | None = None) -> list[KeyRead]:
    """Every key, revoked ones included, oldest first."""
    async with _session(settings, engine) as session:
        return await _every_page(lambda offset: service.list_page(session, limit=PAGE, offset=offset))


async def revoke_key(
    settings: GatewaySettings, key_id_or_prefix: str, *, engine: AsyncEngine | None = None
) -> bool:
    """Revoke by key id or by the key's listed prefix; False when no key matches.

    Raises servicekit.problems.Problem (409) when a prefix matches several keys.
    """
    async with _session(settings, engine) as session:
        revoked = await service.revoke_by_id_or_prefix(session, key_id_or_prefix)
    return revoked is not None


async def create_user(
    settings: GatewaySettings, username: str, role: Role, *, engine: AsyncEngine | None = None
) -> UserRead:
    """Raises servicekit.problems.Problem (409) when the user exists."""
    async with _session(settings, engine) as session:
        return await users.create(session, username, role)


async def list_users(settings: GatewaySettings, *, engine: AsyncEngine | None = None) -> list[UserRead]:
    """Every user, disabled ones included, oldest first."""
    async with _session(settings, engine) as session:
        return await _every_page(lambda offset: users.list_page(session, limit=PAGE, offset=offset))


async def update_user(
    settings: GatewaySettings, username: str, changes: UserUpdate, *, actor: str,
    engine: AsyncEngine | None = None,
) -> UserRead:
    """Change a role or disable/enable; raises Problem 404 for an unknown user, 409 for the last administrator."""
    async with _session(settings, engine) as session:
        return await users.update(session, username, changes, actor=actor)
