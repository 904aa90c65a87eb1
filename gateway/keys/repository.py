"""Every query on API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.keys.models import ApiKey
from gateway.users.models import User

KeyWithUser = tuple[ApiKey, User]


async def _rows(
    session: AsyncSession, *where: ColumnElement[bool], limit: int | None = None, offset: int = 0
) -> list[KeyWithUser]:
    query = select(ApiKey, User).join(User, col(ApiKey.user_id) == col(User.id))
    for clause in where:
        query = query.where(clause)
    query = query.order_by(col(ApiKey.created_at), col(ApiKey.id)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    result = await session.execute(query)
    return [(key, user) for key, user in result.all()]


async def add(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def find_by_hash(session: AsyncSession, key_hash: str) -> KeyWithUser | None:
    rows = await _rows(session, col(ApiKey.key_hash) == key_hash)
    return rows[0] if rows else None


async def get_with_user(session: AsyncSession, key_id: uuid.UUID) -> KeyWithUser | None:
    rows = await _rows(session, col(ApiKey.id) == key_id)
    return rows[0] if rows else None


async def find_by_prefix(session: AsyncSession, prefix: str) -> list[KeyWithUser]:
    return await _rows(session, col(ApiKey.prefix) == prefix)


async def page(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[KeyWithUser], int]:
    total = (await session.execute(select(func.count()).select_from(ApiKey))).scalar_one()
    return await _rows(session, limit=limit, offset=offset), int(total)


async def touch(session: AsyncSession, key_id: uuid.UUID, when: datetime) -> None:
    await session.execute(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=when))


async def revoke(session: AsyncSession, key: ApiKey, when: datetime) -> ApiKey:
    key.revoked_at = when
    session.add(key)
    await session.flush()
    return key
