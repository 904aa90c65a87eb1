"""Every query on the dashboard's sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.dashboard.models import DashboardSession


async def add(session: AsyncSession, row: DashboardSession) -> None:
    session.add(row)
    await session.flush()


async def find(session: AsyncSession, token_sha256: str) -> DashboardSession | None:
    return await session.get(DashboardSession, token_sha256)


async def remove(session: AsyncSession, token_sha256: str) -> None:
    await session.execute(delete(DashboardSession).where(col(DashboardSession.token_sha256) == token_sha256))


async def remove_expired(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(DashboardSession).where(col(DashboardSession.expires_at) <= now))
