"""Webhook signatures (checked with the `standardwebhooks` library), the event log's collection (each event once),
and the delivery rules: backoff, giving up after the retry window, disabling an endpoint that keeps failing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from clients.outbox import OutboxEvent
from gateway.events.collector import append
from gateway.events.repository import EventFilter, EventRepository
from gateway.migrations import MIGRATIONS_DIR
from gateway.settings import GatewaySettings
from gateway.webhooks import signing
from gateway.webhooks.delivery import Outcome, record_outcome
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.repository import WebhookRepository
from servicekit import migrations
from servicekit.db import session_factory, unit_of_work, utcnow


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    body = b'{"type":"ingest.stored.v1","timestamp":"2026-12-04T14:00:00+00:00","data":{}}'
    timestamp = int(utcnow().timestamp())
    headers = signing.headers([new, old], "5a3d2f8e-0b1c-4d5e-8f90-123456789abc", timestamp, body)
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):  # during a rotation's grace period either secret verifies
        assert Webhook(secret).verify(body, headers)["type"] == "ingest.stored.v1"
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace(b"stored", b"failed"), headers)


def event(type_: str, subject: uuid.UUID | None = None) -> OutboxEvent:
    return OutboxEvent(event_id=uuid.uuid4(), source="ingest", type=type_, subject=subject, related=None,
                       occurred_at=utcnow(), payload={"n": 1})


async def test_collection_keeps_each_event_once_with_its_deliveries(db_engine: AsyncEngine) -> None:
    await migrations.upgrade(db_engine, MIGRATIONS_DIR)
    sessions = session_factory(db_engine)
    async with unit_of_work(sessions) as session:
        everything = await WebhookRepository(session).add(WebhookEndpoint(url="http://a", secret="s", created_by="t"))
        fixity = await WebhookRepository(session).add(WebhookEndpoint(
            url="http://b", secret="s", created_by="t", event_types=["fixity.failed"]))
    package = uuid.uuid4()
    batch = [event("ingest.started.v1", package), event("fixity.failed.v1", package), event("fixity.passed.v1")]
    async with unit_of_work(sessions) as session:
        assert await append(session, batch) == 3
    # The acknowledgement was lost: the same events come again, with one more.
    async with unit_of_work(sessions) as session:
        assert await append(session, [*batch, event("ingest.stored.v1", package)]) == 1
    async with unit_of_work(sessions) as session:
        rows = await EventRepository(session).after(0, EventFilter(), 100)
        assert [r.type for r in rows] == ["ingest.started.v1", "fixity.failed.v1", "fixity.passed.v1",
                                          "ingest.stored.v1"]
        ids = [r.id or 0 for r in rows]
        assert ids == sorted(set(ids))
        assert [r.type for r in await EventRepository(session).after(0, EventFilter(["fixity."], [package]), 100)
                ] == ["fixity.failed.v1"]
        _, total_all = await WebhookRepository(session).deliveries(everything.id, None, 100, 0)
        fixity_deliveries, total_fixity = await WebhookRepository(session).deliveries(fixity.id, None, 100, 0)
        assert (total_all, total_fixity) == (4, 1) and fixity_deliveries[0].event_type == "fixity.failed.v1"


def test_failures_back_off_then_give_up_and_disable_the_endpoint() -> None:
    settings = GatewaySettings(webhook_initial_backoff_seconds=5, webhook_max_backoff_seconds=60,
                               webhook_retry_seconds=3600, webhook_disable_after_seconds=7200)
    start = utcnow()
    endpoint = WebhookEndpoint(url="http://a", secret="s", created_by="t")
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_row_id=1, event_type="x.v1", created_at=start)
    down = Outcome(None, 3, "ConnectError: refused")
    waits = []
    for minute in range(3):
        now = start + timedelta(minutes=minute)
        record_outcome(settings, delivery, endpoint, down, now)
        assert delivery.next_attempt_at is not None
        waits.append((delivery.next_attempt_at - now).total_seconds())
    assert waits == [5, 10, 20] and delivery.status == "pending" and endpoint.failing_since == start
    record_outcome(settings, delivery, endpoint, Outcome(500, 9, "HTTP 500"), start + timedelta(hours=1))
    assert delivery.status == "failed" and delivery.attempts == 4 and delivery.response_code == 500
    assert endpoint.enabled  # failing for an hour: not yet long enough

    later = WebhookDelivery(endpoint_id=endpoint.id, event_row_id=2, event_type="x.v1",
                            created_at=start + timedelta(hours=2))
    record_outcome(settings, later, endpoint, down, start + timedelta(hours=2))
    assert not endpoint.enabled and "Failing since" in (endpoint.disabled_reason or "")

    fine = WebhookEndpoint(url="http://b", secret="s", created_by="t", failing_since=start)
    ok = WebhookDelivery(endpoint_id=fine.id, event_row_id=3, event_type="x.v1", created_at=start)
    record_outcome(settings, ok, fine, Outcome(204, 4, None), start)
    assert ok.status == "succeeded" and fine.failing_since is None and ok.latency_ms == 4
