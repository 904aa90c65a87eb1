"""User logic: users exist to own API keys; the first one is the stack's administrator."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.users import repository
from gateway.users.models import User


async def get_or_create(session: AsyncSession, username: str, *, is_admin: bool = False) -> User:
    user = await repository.get_by_username(session, username)
    if user is None:
        user = await repository.add(session, User(username=username, is_admin=is_admin))
    return user


async def has_users(session: AsyncSession) -> bool:
    return await repository.count(session) > 0
