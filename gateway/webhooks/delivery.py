"""Delivering events to webhook endpoints, in the gateway's background, never in the way of processing.

Each delivery is a row (created with its event, `gateway.events.collector`), so retries survive restarts: a due
delivery is sent, signed with the endpoint's secrets (`signing.py`), and its outcome written. A failure is
retried with exponential backoff until the retry window (`webhook_retry_seconds`) has passed, then given up
(`failed`; redeliverable through the API). An endpoint failing without a success for
`webhook_disable_after_seconds` is disabled with the reason. A message keeps its `webhook-id` (the event's id)
through every attempt and redelivery, so a receiver can drop the duplicates a lost answer causes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.events.bus import EventBus
from gateway.events.models import Event
from gateway.settings import GatewaySettings
from gateway.webhooks import signing
from gateway.webhooks.metrics import WebhookMetrics
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.repository import WebhookRepository
from gateway.webhooks.schemas import DeliveryStatus
from servicekit.db import unit_of_work, utcnow

log = logging.getLogger(__name__)
IDLE_SECONDS = 5.0
BATCH = 100


def message_body(event: Event) -> bytes:
    """The Standard Webhooks payload: `type`, `timestamp` and the event as `data`."""
    data = {"event_id": str(event.event_id), "id": event.id, "source": event.source,
            "subject": str(event.subject) if event.subject else None,
            "related": str(event.related) if event.related else None, **event.payload}
    return json.dumps({"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": data},
                      separators=(",", ":")).encode()


def signing_keys(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        keys.append(endpoint.previous_secret)
    return keys


@dataclass(frozen=True)
class Attempt:
    """What one attempt is, read in a short transaction and sent outside any."""

    delivery_id: int
    url: str
    message_id: str
    keys: list[str]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def backoff(settings: GatewaySettings, attempts: int) -> float:
    return min(settings.webhook_initial_backoff_seconds * 2 ** max(attempts - 1, 0),
               settings.webhook_max_backoff_seconds)


def record_outcome(settings: GatewaySettings, delivery: WebhookDelivery, endpoint: WebhookEndpoint,
                   outcome: Outcome, now: datetime) -> None:
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_code, delivery.latency_ms, delivery.last_error = outcome.code, outcome.latency_ms, outcome.error
    if outcome.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.succeeded, now, None
        endpoint.failing_since = None
        return
    if now - delivery.created_at >= timedelta(seconds=settings.webhook_retry_seconds):
        delivery.status, delivery.next_attempt_at = DeliveryStatus.failed, None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff(settings, delivery.attempts))
    endpoint.failing_since = endpoint.failing_since or now
    if endpoint.enabled and now - endpoint.failing_since >= timedelta(seconds=settings.webhook_disable_after_seconds):
        endpoint.enabled, endpoint.disabled_at = False, now
        endpoint.disabled_reason = (f"Failing since {endpoint.failing_since.isoformat()} without a success; last "
                                    f"attempt: {outcome.error or outcome.code}")[:2000]
        endpoint.updated_at = now
        log.warning("webhook endpoint %s disabled: %s", endpoint.id, endpoint.disabled_reason)


class Dispatcher:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: GatewaySettings, bus: EventBus,
                 metrics: WebhookMetrics | None = None) -> None:
        self.sessions = sessions
        self.metrics = metrics
        self.settings = settings
        self.bus = bus
        self.http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
        self.limit = asyncio.Semaphore(settings.webhook_concurrency)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def due(self) -> list[Attempt]:
        now = utcnow()
        async with unit_of_work(self.sessions) as session:
            rows = await WebhookRepository(session).due(now, BATCH)
            return [Attempt(delivery.id, endpoint.url, str(event.event_id), signing_keys(endpoint, now),
                            message_body(event))
                    for delivery, endpoint, event in rows if delivery.id is not None]

    async def send(self, attempt: Attempt) -> Outcome:
        timestamp = int(time.time())
        started = time.perf_counter()
        try:
            async with self.limit:
                response = await self.http.post(attempt.url, content=attempt.body, headers=signing.headers(
                    attempt.keys, attempt.message_id, timestamp, attempt.body))
        except httpx.HTTPError as exc:
            outcome = Outcome(None, round((time.perf_counter() - started) * 1000),
                              f"{type(exc).__name__}: {exc}"[:2000])
        else:
            error = None if response.is_success else f"HTTP {response.status_code}: {response.text[:200]}"
            outcome = Outcome(response.status_code, round((time.perf_counter() - started) * 1000), error)
        if self.metrics is not None:
            self.metrics.attempted(outcome.ok, outcome.code, time.perf_counter() - started)
        return outcome

    async def deliver(self, attempt: Attempt) -> None:
        outcome = await self.send(attempt)
        async with unit_of_work(self.sessions) as session:
            repo = WebhookRepository(session)
            delivery = await repo.delivery_for_update(attempt.delivery_id)
            if delivery is None or delivery.status != DeliveryStatus.pending:
                return  # the endpoint was deleted meanwhile
            endpoint = await repo.get(delivery.endpoint_id)
            if endpoint is not None:
                record_outcome(self.settings, delivery, endpoint, outcome, utcnow())

    async def round(self) -> int:
        attempts = await self.due()
        await asyncio.gather(*(self.deliver(attempt) for attempt in attempts))
        return len(attempts)

    async def idle_wait(self) -> None:
        async with unit_of_work(self.sessions) as session:
            next_due = await WebhookRepository(session).next_due_at()
        wait = IDLE_SECONDS if next_due is None else max(0.05, (next_due - utcnow()).total_seconds())
        await self.bus.wait(min(wait, IDLE_SECONDS))

    async def run_forever(self) -> None:
        while True:
            try:
                if await self.round() < BATCH:
                    await self.idle_wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery round failed")
                await asyncio.sleep(IDLE_SECONDS)
