"""User logic: users own API keys and hold one role; the first one is the stack's administrator.

A stack always keeps at least one enabled administrator: no change that would leave none is accepted.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.schemas import UserRead, UserUpdate
from gateway.users import repository
from gateway.users.models import User
from servicekit.db import utcnow
from servicekit.problems import Conflict, NotFound
from servicekit.roles import Role


def is_enabled_admin(user: User) -> bool:
    return user.role == Role.admin.value and user.disabled_at is None


async def get_or_create(session: AsyncSession, username: str, *, role: Role = Role.reader) -> User:
    user = await repository.get_by_username(session, username)
    if user is None:
        user = await repository.add(session, User(username=username, role=role.value))
    return user


async def create(session: AsyncSession, username: str, role: Role) -> UserRead:
    if await repository.get_by_username(session, username) is not None:
        raise Conflict(f"User {username} exists already")
    return UserRead.model_validate(await repository.add(session, User(username=username, role=role.value)))


async def get(session: AsyncSession, username: str) -> User:
    user = await repository.get_by_username(session, username)
    if user is None:
        raise NotFound("User", username)
    return user


async def read(session: AsyncSession, username: str) -> UserRead:
    return UserRead.model_validate(await get(session, username))


async def list_page(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[UserRead], int]:
    users, total = await repository.page(session, limit=limit, offset=offset)
    return [UserRead.model_validate(user) for user in users], total


async def update(session: AsyncSession, username: str, changes: UserUpdate, *, actor: str) -> UserRead:
    """Change a user's role and/or enable or disable them (`actor` is recorded as who disabled them).

    Disabling an already disabled user keeps the first time and administrator.
    """
    user = await get(session, username)
    role = changes.role.value if changes.role is not None else user.role
    disabled = changes.disabled if changes.disabled is not None else user.disabled_at is not None
    stays_admin = role == Role.admin.value and not disabled
    if is_enabled_admin(user) and not stays_admin and await repository.count_enabled_admins(session) <= 1:
        raise Conflict(f"{username} is the only enabled administrator; make another user administrator first")
    user.role = role
    if disabled and user.disabled_at is None:
        user.disabled_at, user.disabled_by = utcnow(), actor
    elif not disabled:
        user.disabled_at, user.disabled_by = None, None
    return UserRead.model_validate(await repository.save(session, user))


async def has_users(session: AsyncSession) -> bool:
    return await repository.count(session) > 0
