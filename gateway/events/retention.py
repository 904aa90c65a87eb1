"""Bounded retention of the event log and the webhook delivery log, purged in the gateway's background.

Finished deliveries (succeeded or failed) go `webhook_deliveries_keep_days` after their last attempt; events go
`events_keep_days` after they were collected, unless a delivery still refers to one (a pending delivery needs its
event to be sent; a kept failed one, to be redelivered). Each batch of `retention_batch` rows is its own short
transaction, so the purge never holds the log locked. Every event purged raises `purged_through` in the same
transaction: a stream resuming from a lower id is told it may have missed events (`stream.py`).

The services' outboxes need no retention of their own: an event leaves its outbox when the gateway acknowledges
having collected it (`servicekit.outbox`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.events.repository import EventRepository
from gateway.settings import GatewaySettings
from gateway.webhooks.repository import WebhookRepository
from servicekit.db import unit_of_work, utcnow

log = logging.getLogger(__name__)


@dataclass
class Purged:
    events: int = 0
    deliveries: int = 0
    batches: int = 0


class Retention:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: GatewaySettings) -> None:
        self.sessions = sessions
        self.settings = settings

    async def purge(self, now: datetime | None = None) -> Purged:
        """Everything the settings let go as of `now`, batch after batch; deliveries first, as they hold events."""
        now = now or utcnow()
        purged = Purged()
        if self.settings.webhook_deliveries_keep_days:
            cutoff = now - timedelta(days=self.settings.webhook_deliveries_keep_days)
            while await self._deliveries(cutoff, now, purged):
                pass
        if self.settings.events_keep_days:
            cutoff = now - timedelta(days=self.settings.events_keep_days)
            while await self._events(cutoff, now, purged):
                pass
        return purged

    async def _deliveries(self, cutoff: datetime, now: datetime, purged: Purged) -> bool:
        """One batch of finished deliveries; True when there may be more."""
        async with unit_of_work(self.sessions) as session:
            count = await WebhookRepository(session).purge_finished(cutoff, self.settings.retention_batch)
            if count:
                await EventRepository(session).record_purge([], count, now)
        purged.deliveries += count
        purged.batches += 1 if count else 0
        return count >= self.settings.retention_batch

    async def _events(self, cutoff: datetime, now: datetime, purged: Purged) -> bool:
        """One batch of events no delivery refers to; True when there may be more."""
        async with unit_of_work(self.sessions) as session:
            repo = EventRepository(session)
            candidates = await repo.purgeable(cutoff, self.settings.retention_batch)
            deleted = await repo.purge(candidates)
            if deleted:
                await repo.record_purge(deleted, 0, now)
        purged.events += len(deleted)
        purged.batches += 1 if candidates else 0
        return len(candidates) >= self.settings.retention_batch

    async def run_forever(self) -> None:
        while True:
            try:
                purged = await self.purge()
                if purged.batches:
                    log.info("event retention purged %d events and %d webhook deliveries in %d batches",
                             purged.events, purged.deliveries, purged.batches)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event retention purge failed")
            await asyncio.sleep(self.settings.retention_interval_seconds)

