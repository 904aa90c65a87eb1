"""Retention of the event log and the webhook delivery log: old rows go in bounded batches, an event a delivery
still refers to stays, and a stream or page asked for events after a purged id is told some may be missing."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from clients.events import EventsClient
from clients.events.schemas import PURGED_EVENT, PURGED_HEADER, EventRead
from clients.outbox import OutboxEvent
from gateway.events.bus import EventBus
from gateway.events.collector import append
from gateway.events.models import Event
from gateway.events.repository import EventFilter, EventRepository
from gateway.events.retention import Retention
from gateway.events.stream import event_stream, start_after
from gateway.migrations import MIGRATIONS_DIR
from gateway.settings import GatewaySettings
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.repository import WebhookRepository
from servicekit import migrations
from servicekit.db import session_factory, unit_of_work, utcnow
from tests.gateway.harness import gateway_stack


def outbox_event(type_: str) -> OutboxEvent:
    return OutboxEvent(event_id=uuid.uuid4(), source="storage", type=type_, subject=uuid.uuid4(), related=None,
                       occurred_at=utcnow(), payload={})


async def seed(sessions: async_sessionmaker[AsyncSession], now: datetime) -> dict[str, int]:
    """Six events, 100 days old but the last; deliveries: one succeeded 40 days ago, one failed 5 days ago, one
    pending (its endpoint disabled). Returns the log ids by name."""
    async with unit_of_work(sessions) as session:
        webhooks = WebhookRepository(session)
        await webhooks.add(WebhookEndpoint(url="http://a", secret="s", created_by="t", event_types=["fixity."]))
        await webhooks.add(WebhookEndpoint(url="http://b", secret="s", created_by="t", enabled=False,
                                           event_types=["aip.stored"]))
    names = {"plain": "aip.deleted.v1", "delivered": "fixity.failed.v1", "pending": "aip.stored.v1",
             "failed": "fixity.passed.v1", "plain2": "dip.deleted.v1", "recent": "dip.stored.v1"}
    batch = [outbox_event(t) for t in names.values()]
    async with unit_of_work(sessions) as session:
        assert await append(session, batch) == len(batch)
        rows = await EventRepository(session).after(0, EventFilter(), 100)
        ids = dict(zip(names, [r.id or 0 for r in rows], strict=True))
        old = now - timedelta(days=100)
        await session.execute(update(Event).where(col(Event.id) != ids["recent"]).values(collected_at=old))
        for name, status, days in (("delivered", "succeeded", 40), ("failed", "failed", 5)):
            await session.execute(update(WebhookDelivery).where(col(WebhookDelivery.event_row_id) == ids[name])
                                  .values(status=status, last_attempt_at=now - timedelta(days=days)))
    return ids


async def seeded(engine: AsyncEngine) -> tuple[async_sessionmaker[AsyncSession], datetime, dict[str, int]]:
    """The gateway's tables with `seed`'s rows; (sessions, now, the log ids by name)."""
    await migrations.upgrade(engine, MIGRATIONS_DIR)
    sessions = session_factory(engine)
    now = utcnow()
    return sessions, now, await seed(sessions, now)


KEEP = GatewaySettings(events_keep_days=90, webhook_deliveries_keep_days=30)


async def test_the_purge_keeps_what_deliveries_need_and_goes_in_batches(db_engine: AsyncEngine) -> None:
    sessions, now, ids = await seeded(db_engine)
    settings = GatewaySettings(events_keep_days=90, webhook_deliveries_keep_days=30, retention_batch=1)
    purged = await Retention(sessions, settings).purge(now)
    # One delivery (40 days), then three events, one per transaction: the batch is one row.
    assert (purged.deliveries, purged.events, purged.batches) == (1, 3, 4)
    async with unit_of_work(sessions) as session:
        repo = EventRepository(session)
        kept = [r.id for r in await repo.after(0, EventFilter(), 100)]
        assert kept == [ids["pending"], ids["failed"], ids["recent"]]
        assert await repo.purged_through() == ids["plain2"]
        statuses = sorted(d.status for d in (await session.execute(
            WebhookDelivery.__table__.select())).all())  # type: ignore[attr-defined]
        assert statuses == ["failed", "pending"]
    assert (await Retention(sessions, settings).purge(now)).batches == 0  # nothing left to let go

    # Later: the failed delivery's time is up, and its event goes with it; the pending one still holds its event.
    later = now + timedelta(days=30)
    purged = await Retention(sessions, KEEP).purge(later)
    assert (purged.deliveries, purged.events) == (1, 1)
    # Zero keeps for ever.
    forever = GatewaySettings(events_keep_days=0, webhook_deliveries_keep_days=0)
    assert (await Retention(sessions, forever).purge(later + timedelta(days=1000))).batches == 0


async def stream_until(sessions: async_sessionmaker[AsyncSession], after: int, last: int) -> list[tuple[str, str]]:
    """(event, data) of each message of a stream starting after `after`, up to the event with id `last`."""

    async def allowed() -> bool:
        return True

    async def disconnected() -> bool:
        return False

    messages: list[tuple[str, str]] = []
    stream = event_stream(sessions, EventBus(), EventFilter(), after, 0.01, allowed, disconnected)
    async for message in stream:
        fields = dict(line.split(": ", 1) for line in message.strip().splitlines() if not line.startswith(":"))
        if "event" in fields:
            messages.append((fields["event"], fields["data"]))
            if fields.get("id") == str(last):
                break
    await stream.aclose()
    return messages


async def test_a_stream_resuming_below_the_purge_is_told_then_continues(db_engine: AsyncEngine) -> None:
    sessions, now, ids = await seeded(db_engine)
    await Retention(sessions, KEEP).purge(now)

    messages = await stream_until(sessions, ids["plain"], ids["recent"])
    assert messages[0] == (PURGED_EVENT, json.dumps({"after": ids["plain"], "purged_through": ids["plain2"]},
                                                    separators=(",", ":")))
    assert [kind for kind, _ in messages[1:]] == ["aip.stored.v1", "fixity.passed.v1", "dip.stored.v1"]
    # A stream standing past the purge is told nothing.
    assert [kind for kind, _ in await stream_until(sessions, ids["plain2"], ids["recent"])] == ["dip.stored.v1"]

    # Much later, the endpoints gone, the log empties: a new stream starts past the purge and is told nothing.
    async with unit_of_work(sessions) as session:
        for endpoint in await WebhookRepository(session).all_endpoints():
            await WebhookRepository(session).delete(endpoint)
    await Retention(sessions, GatewaySettings()).purge(now + timedelta(days=365))
    after, purged_through = await start_after(sessions, None)
    assert after == purged_through == ids["recent"]
    async with unit_of_work(sessions) as session:
        await append(session, [outbox_event("aip.stored.v1")])
        [new] = await EventRepository(session).after(after, EventFilter(), 10)
    assert await stream_until(sessions, after, new.id or 0) == [
        ("aip.stored.v1", EventRead.model_validate(new).model_dump_json())]


async def test_the_api_says_when_asked_events_were_purged(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with gateway_stack(tmp_path, db_engine, real_http=True) as stack:
        assert stack.engine is not None
        sessions, now, ids = await seeded(stack.engine)
        await Retention(sessions, KEEP).purge(now)
        client = stack.client

        page = await client.get("/api/v1/events", params={"after": 0}, headers=stack.admin)
        assert page.status_code == 200 and page.headers[PURGED_HEADER] == str(ids["plain2"])
        assert [e["id"] for e in page.json()["items"]] == [ids["pending"], ids["failed"], ids["recent"]]
        past = await client.get("/api/v1/events", params={"after": ids["plain2"]}, headers=stack.admin)
        assert PURGED_HEADER not in past.headers and [e["id"] for e in past.json()["items"]] == [ids["recent"]]

        headers = {**stack.admin, "Accept": "text/event-stream", "Last-Event-ID": str(ids["plain"])}
        lines: list[str] = []
        async with client.stream("GET", "/api/v1/events", headers=headers,
                                 timeout=httpx.Timeout(10.0)) as response:
            assert response.headers[PURGED_HEADER] == str(ids["plain2"])
            async for line in response.aiter_lines():
                lines.append(line)
                if line == "" and f"id: {ids['recent']}" in lines:
                    break
        kinds = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
        assert kinds == [PURGED_EVENT, "aip.stored.v1", "fixity.passed.v1", "dip.stored.v1"]
        # The notice carries no id: a client reconnecting resumes from the last event, not from the notice.
        notice = lines.index(f"event: {PURGED_EVENT}")
        assert not lines[notice - 1].startswith("id:") and lines[notice + 1].startswith("data: ")

        # The client follows on past the notice, warning.
        events = EventsClient(f"{str(client.base_url).rstrip('/')}/api/v1", token=stack.admin_key)
        followed: list[int] = []
        warnings = Warnings()
        logging.getLogger("clients.events.client").addHandler(warnings)
        try:
            async for event in events.follow(last_event_id=ids["plain"]):
                followed.append(event.id)
                if event.id == ids["recent"]:
                    break
        finally:
            logging.getLogger("clients.events.client").removeHandler(warnings)
            await events.aclose()
        assert followed == [ids["pending"], ids["failed"], ids["recent"]]
        assert any(f"up to {ids['plain2']} may be missing" in message for message in warnings.messages)


class Warnings(logging.Handler):
    """The warnings a logger emits (the services' JSON logging configuration bypasses pytest's capture)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
