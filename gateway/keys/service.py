"""API key logic: issuing (the clear key leaves once), verifying by hash, revoking."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.keys import repository
from gateway.keys.models import PREFIX_LENGTH, ApiKey
from gateway.schemas import KeyCreated, KeyRead, UserRead
from gateway.users import service as users
from gateway.users.models import User
from servicekit.auth import generate_key, hash_key
from servicekit.db import utcnow
from servicekit.problems import Conflict, Problem
from servicekit.roles import Role

ADMIN_USERNAME = "admin"
# Recording every use would turn each read into a write; a minute is precise enough to spot stale keys.
TOUCH_INTERVAL = timedelta(minutes=1)


def to_read(key: ApiKey, user: User) -> KeyRead:
    return KeyRead(
        id=key.id,
        user_id=key.user_id,
        username=user.username,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


async def issue(session: AsyncSession, user: User, name: str) -> KeyCreated:
    clear = generate_key()
    key = await repository.add(
        session, ApiKey(user_id=user.id, name=name, key_hash=hash_key(clear), prefix=clear[:PREFIX_LENGTH])
    )
    return KeyCreated(**to_read(key, user).model_dump(), key=clear)


async def create_for_username(
    session: AsyncSession, username: str, name: str, role: Role | None = None
) -> KeyCreated:
    """A new key for `username`, creating the user with `role` (reader when None) if it does not exist yet.

    For an existing user `role` must be theirs: a key is not the place to change a role, silently or otherwise.
    """
    user = await users.get_or_create(session, username, role=role or Role.reader)
    if role is not None and user.role != role.value:
        raise Conflict(f"{username} has role {user.role}, not {role.value}; change it on the user first")
    if user.disabled_at is not None:
        raise Conflict(f"{username} is disabled; a key would not work")
    return await issue(session, user, name)


async def bootstrap_admin(session: AsyncSession) -> KeyCreated | None:
    """The first user of a stack: "admin" and one key, only while there is no user at all."""
    if await users.has_users(session):
        return None
    admin = await users.get_or_create(session, ADMIN_USERNAME, role=Role.admin)
    return await issue(session, admin, "initial administrator key")


async def authenticate(session: AsyncSession, clear_key: str, username: str | None) -> UserRead | None:
    """The user a presented key belongs to, or None when the key is unknown, revoked, not that user's, or the user
    is disabled."""
    found = await repository.find_by_hash(session, hash_key(clear_key))
    if found is None:
        return None
    key, user = found
    if key.revoked_at is not None or user.disabled_at is not None:
        return None
    if username is not None and user.username != username:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL:
        await repository.touch(session, key.id, now)
    return UserRead.model_validate(user)


async def list_page(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[KeyRead], int]:
    rows, total = await repository.page(session, limit=limit, offset=offset)
    return [to_read(key, user) for key, user in rows], total


async def revoke_by_id(session: AsyncSession, key_id: uuid.UUID) -> KeyRead | None:
    """Revoke a key; revoking a revoked key keeps its first revocation time."""
    found = await repository.get_with_user(session, key_id)
    if found is None:
        return None
    key, user = found
    if key.revoked_at is None:
        key = await repository.revoke(session, key, utcnow())
    return to_read(key, user)


async def revoke_by_id_or_prefix(session: AsyncSession, key_id_or_prefix: str) -> KeyRead | None:
    try:
        key_id = uuid.UUID(key_id_or_prefix)
    except ValueError:
        matches = await repository.find_by_prefix(session, key_id_or_prefix)
        if len(matches) > 1:
            raise Problem(
                409, "Conflict", f"{len(matches)} keys start with {key_id_or_prefix!r}; give the key id instead"
            ) from None
        if not matches:
            return None
        key_id = matches[0][0].id
    return await revoke_by_id(session, key_id)
