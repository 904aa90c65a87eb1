"""Every query on users."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.users.models import User
from servicekit.roles import Role


async def get_by_username(session: AsyncSession, username: str) -> User | None:
    result = await session.execute(select(User).where(col(User.username) == username))
    return result.scalar_one_or_none()


async def count(session: AsyncSession) -> int:
    result = await session.execute(select(func.count()).select_from(User))
    return int(result.scalar_one())


async def count_enabled_admins(session: AsyncSession) -> int:
    """Counted with the rows locked (PostgreSQL), so that two administrators demoting each other at once cannot
    both see the other still enabled; SQLite serializes writers anyway."""
    query = (
        select(col(User.id))
        .where(col(User.role) == Role.admin.value, col(User.disabled_at).is_(None))
        .with_for_update()
    )
    return len((await session.execute(query)).all())


async def page(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[User], int]:
    total = await count(session)
    query = select(User).order_by(col(User.created_at), col(User.id)).offset(offset).limit(limit)
    return list((await session.execute(query)).scalars().all()), total


async def add(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def save(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user
