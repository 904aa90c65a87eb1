"""Every query on the event log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, case, delete, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.events.models import Event, EventRetention
from gateway.webhooks.models import WebhookDelivery

# Any constant: the PostgreSQL advisory lock that puts the log's writers in line.
APPEND_LOCK = 0x616D626572


class EventFilter:
    """Types by prefix (`ingest.` or `ingest.stored`), packages by subject or related package."""

    def __init__(self, types: Sequence[str] = (), packages: Sequence[uuid.UUID] = ()) -> None:
        self.types = [t for t in types if t]
        self.packages = list(packages)

    def clauses(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.types:
            clauses.append(or_(*(col(Event.type).startswith(t, autoescape=True) for t in self.types)))
        if self.packages:
            clauses.append(or_(col(Event.subject).in_(self.packages), col(Event.related).in_(self.packages)))
        return clauses


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_for_append(self) -> None:
        """On PostgreSQL, appenders (of every gateway process) commit one after the other, so ids are in commit
        order and a reader resuming after id N never misses a smaller id committed later. SQLite writes one at a
        time anyway."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK})

    async def known(self, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        if not event_ids:
            return set()
        rows = await self.session.execute(select(col(Event.event_id)).where(col(Event.event_id).in_(event_ids)))
        return set(rows.scalars())

    async def add(self, event: Event) -> Event:
        self.session.add(event)
        await self.session.flush()
        return event

    async def after(self, last_id: int, where: EventFilter, limit: int) -> list[Event]:
        query = select(Event).where(col(Event.id) > last_id, *where.clauses()).order_by(col(Event.id)).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def page(self, where: EventFilter, after: int, limit: int, offset: int) -> tuple[list[Event], int]:
        clauses = [col(Event.id) > after, *where.clauses()]
        query = select(Event).where(*clauses).order_by(col(Event.id)).limit(limit).offset(offset)
        total = await self.session.execute(select(func.count()).select_from(Event).where(*clauses))
        return list((await self.session.execute(query)).scalars()), int(total.scalar_one())

    async def last_id(self) -> int:
        last = (await self.session.execute(select(func.max(col(Event.id))))).scalar_one_or_none()
        return int(last or 0)

    async def get(self, event_row_id: int) -> Event | None:
        return await self.session.get(Event, event_row_id)

    async def purgeable(self, collected_before: datetime, limit: int) -> list[int]:
        """The oldest events collected before the cutoff that no webhook delivery refers to."""
        query = (select(col(Event.id)).where(col(Event.collected_at) < collected_before, ~_has_delivery())
                 .order_by(col(Event.id)).limit(limit))
        return [i for i in (await self.session.execute(query)).scalars() if i is not None]

    async def purge(self, event_row_ids: list[int]) -> list[int]:
        """Delete these events unless a delivery refers to one now; returns the ids deleted."""
        if not event_row_ids:
            return []
        query = (delete(Event).where(col(Event.id).in_(event_row_ids), ~_has_delivery())
                 .returning(col(Event.id)))
        return [i for i in (await self.session.execute(query)).scalars() if i is not None]

    async def purged_through(self) -> int:
        """The highest id the retention purge has deleted (0: none yet)."""
        query = select(col(EventRetention.purged_through)).where(col(EventRetention.id) == 1)
        return int((await self.session.execute(query)).scalar_one_or_none() or 0)

    async def record_purge(self, event_row_ids: list[int], deliveries: int, now: datetime) -> None:
        highest = max(event_row_ids, default=0)
        # The highest of the stored and the new mark, in SQL: two gateways purging at once never lower it.
        through = case((col(EventRetention.purged_through) < highest, highest),
                       else_=col(EventRetention.purged_through))
        await self.session.execute(
            update(EventRetention).where(col(EventRetention.id) == 1).values(
                purged_through=through, purged_at=now,
                events_purged=col(EventRetention.events_purged) + len(event_row_ids),
                deliveries_purged=col(EventRetention.deliveries_purged) + deliveries,
            )
        )


def _has_delivery() -> ColumnElement[bool]:
    return exists().where(col(WebhookDelivery.event_row_id) == col(Event.id))
