"""Collecting every service's outbox into the gateway's event log, each event once, in one order.

Per service a loop pulls the oldest unacknowledged events (a long poll), appends the new ones to the log and
creates their webhook deliveries in one transaction, and only then acknowledges them. A process dying anywhere
in between loses nothing (unacknowledged events are handed again) and duplicates nothing (the log keeps one row
per event id). Appends are put in line (a lock here, an advisory lock on PostgreSQL), so log ids follow commit
order and a stream resuming after id N never misses a smaller one.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.outbox import OutboxClient, OutboxEvent
from gateway.events.bus import EventBus
from gateway.events.models import Event
from gateway.events.repository import EventRepository
from gateway.settings import GatewaySettings
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.repository import WebhookRepository
from servicekit.db import unit_of_work, utcnow
from servicekit.http import ServiceError

log = logging.getLogger(__name__)
BATCH = 200
MAX_BACKOFF_SECONDS = 30.0


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.event_types or any(event_type.startswith(prefix) for prefix in endpoint.event_types)


async def append(session: AsyncSession, events: list[OutboxEvent]) -> int:
    """Append the events not yet in the log, with a delivery for every endpoint that wants each; returns how many
    were new."""
    repo = EventRepository(session)
    await repo.lock_for_append()
    known = await repo.known([e.event_id for e in events])
    endpoints = await WebhookRepository(session).all_endpoints()
    now = utcnow()
    added = 0
    for item in events:
        if item.event_id in known:
            continue
        known.add(item.event_id)
        row = await repo.add(Event(collected_at=now, **item.model_dump()))
        assert row.id is not None
        for endpoint in endpoints:
            if wants(endpoint, row.type):
                WebhookRepository(session).add_delivery(WebhookDelivery(
                    endpoint_id=endpoint.id, event_row_id=row.id, event_type=row.type, next_attempt_at=now,
                ))
        added += 1
    await session.flush()
    return added


class EventCollector:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: GatewaySettings, bus: EventBus) -> None:
        self.sessions = sessions
        self.settings = settings
        self.bus = bus
        self.lock = asyncio.Lock()
        token = settings.resolved_internal_token()
        self.clients = [OutboxClient(url, source, token=token) for source, url in settings.event_sources().items()]

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def collect_once(self, client: OutboxClient, wait: float) -> int:
        """One pull, append and acknowledgement; returns how many events were pulled."""
        batch = await client.pull(limit=BATCH, wait=wait)
        if not batch.events:
            return 0
        async with self.lock, unit_of_work(self.sessions) as session:
            added = await append(session, batch.events)
        if added:
            self.bus.notify()
        await client.acknowledge([e.event_id for e in batch.events])
        return len(batch.events)

    async def run(self, client: OutboxClient) -> None:
        delay = 1.0
        while True:
            try:
                await self.collect_once(client, self.settings.events_pull_wait_seconds)
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except ServiceError as exc:
                log.info("events of %s not collected yet: %s", client.source, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            except Exception:
                log.exception("collecting the events of %s failed", client.source)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def tasks(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self.run(client), name=f"collect-{client.source}") for client in self.clients]
