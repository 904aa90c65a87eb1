"""Webhook endpoints: registration, changes, secret rotation, the delivery log and redelivery."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.settings import GatewaySettings
from gateway.webhooks import signing
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.repository import WebhookRepository
from gateway.webhooks.schemas import (
    DeliveryRead,
    DeliveryStatus,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
)
from servicekit.db import utcnow
from servicekit.pagination import Page, PageParams
from servicekit.problems import NotFound


async def _endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await WebhookRepository(session).get(endpoint_id)
    if endpoint is None:
        raise NotFound("Webhook endpoint", endpoint_id)
    return endpoint


async def create(session: AsyncSession, body: WebhookCreate, actor: str) -> WebhookCreated:
    """Registered endpoints receive the events collected from now on."""
    endpoint = await WebhookRepository(session).add(WebhookEndpoint(
        url=str(body.url), description=body.description, event_types=sorted(set(body.event_types)),
        secret=signing.new_secret(), created_by=actor,
    ))
    return WebhookCreated(**WebhookRead.model_validate(endpoint).model_dump(), secret=endpoint.secret)


async def read(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookRead:
    return WebhookRead.model_validate(await _endpoint(session, endpoint_id))


async def list_page(session: AsyncSession, page: PageParams) -> Page[WebhookRead]:
    items, total = await WebhookRepository(session).page(page.limit, page.offset)
    return Page[WebhookRead].of([WebhookRead.model_validate(i) for i in items], total, page)


async def update(session: AsyncSession, endpoint_id: uuid.UUID, body: WebhookUpdate, actor: str) -> WebhookRead:
    endpoint = await _endpoint(session, endpoint_id)
    now = utcnow()
    if body.url is not None:
        endpoint.url = str(body.url)
    if body.description is not None:
        endpoint.description = body.description
    if body.event_types is not None:
        endpoint.event_types = sorted(set(body.event_types))
    if body.enabled is True and not endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
        endpoint.failing_since = None
        await WebhookRepository(session).resume_pending(endpoint.id, now)
    elif body.enabled is False and endpoint.enabled:
        endpoint.enabled, endpoint.disabled_at = False, now
        endpoint.disabled_reason = f"Disabled by {actor}"
    endpoint.updated_at = now
    await session.flush()
    return WebhookRead.model_validate(endpoint)


async def delete(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    await WebhookRepository(session).delete(await _endpoint(session, endpoint_id))


async def rotate_secret(session: AsyncSession, endpoint_id: uuid.UUID, settings: GatewaySettings) -> WebhookSecret:
    """A new secret; the old one keeps signing (a second signature) for the grace period."""
    endpoint = await _endpoint(session, endpoint_id)
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + timedelta(seconds=settings.webhook_secret_grace_seconds)
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = now
    await session.flush()
    return WebhookSecret(secret=endpoint.secret, previous_secret_expires_at=endpoint.previous_secret_expires_at)


async def deliveries(session: AsyncSession, endpoint_id: uuid.UUID, status: DeliveryStatus | None,
                     page: PageParams) -> Page[DeliveryRead]:
    await _endpoint(session, endpoint_id)
    items, total = await WebhookRepository(session).deliveries(
        endpoint_id, status.value if status else None, page.limit, page.offset)
    return Page[DeliveryRead].of([DeliveryRead.model_validate(i) for i in items], total, page)


async def redeliver(session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: int) -> DeliveryRead:
    """Send the delivery again now, as the same message (same `webhook-id`), whatever its status."""
    delivery: WebhookDelivery | None = await WebhookRepository(session).get_delivery(endpoint_id, delivery_id)
    if delivery is None:
        raise NotFound("Webhook delivery", delivery_id)
    now = utcnow()
    delivery.status, delivery.next_attempt_at = DeliveryStatus.pending, now
    # The retry window starts again: a manual redelivery deserves the same patience as the first.
    delivery.created_at = now
    await session.flush()
    return DeliveryRead.model_validate(delivery)
