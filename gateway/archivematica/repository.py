"""Every query on the adapter's tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.archivematica.models import HiddenUnit, IdempotencyKey


async def hidden_among(session: AsyncSession, units: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    wanted = list(units)
    if not wanted:
        return set()
    result = await session.execute(select(HiddenUnit.unit_uuid).where(col(HiddenUnit.unit_uuid).in_(wanted)))
    return set(result.scalars().all())


async def hide(session: AsyncSession, unit: uuid.UUID, unit_type: str, username: str) -> bool:
    """False when the unit was hidden already."""
    if await session.get(HiddenUnit, unit) is not None:
        return False
    session.add(HiddenUnit(unit_uuid=unit, unit_type=unit_type, hidden_by=username))
    await session.flush()
    return True


async def find_key(session: AsyncSession, username: str, key: str) -> IdempotencyKey | None:
    result = await session.execute(
        select(IdempotencyKey).where(col(IdempotencyKey.username) == username, col(IdempotencyKey.key) == key)
    )
    return result.scalars().first()


async def claim_key(session: AsyncSession, username: str, key: str, request_sha256: str) -> IdempotencyKey | None:
    """The new claim, or None when the user holds that key already (a concurrent claim loses on the unique key)."""
    claim = IdempotencyKey(username=username, key=key, request_sha256=request_sha256)
    session.add(claim)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        return None
    return claim


async def settle_key(session: AsyncSession, claim_id: uuid.UUID, transfer_uuid: uuid.UUID) -> None:
    claim = await session.get(IdempotencyKey, claim_id)
    if claim is not None:
        claim.transfer_uuid = transfer_uuid
        session.add(claim)
        await session.flush()


async def release_key(session: AsyncSession, claim_id: uuid.UUID) -> None:
    await session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.id) == claim_id))
