"""Every query on webhook endpoints and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.events.models import Event
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint

PENDING = "pending"
FINISHED = ("succeeded", "failed")


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        self.session.add(endpoint)
        await self.session.flush()
        return endpoint

    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        return await self.session.get(WebhookEndpoint, endpoint_id)

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        await self.session.delete(endpoint)
        await self.session.flush()

    async def page(self, limit: int, offset: int) -> tuple[list[WebhookEndpoint], int]:
        query = select(WebhookEndpoint).order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        items = (await self.session.execute(query.limit(limit).offset(offset))).scalars()
        total = await self.session.execute(select(func.count()).select_from(WebhookEndpoint))
        return list(items), int(total.scalar_one())

    async def all_endpoints(self) -> list[WebhookEndpoint]:
        """Every endpoint, disabled ones too: their deliveries are kept pending for when they are enabled again."""
        return list((await self.session.execute(select(WebhookEndpoint))).scalars())

    def add_delivery(self, delivery: WebhookDelivery) -> None:
        self.session.add(delivery)

    async def due(self, now: datetime, limit: int) -> list[tuple[WebhookDelivery, WebhookEndpoint, Event]]:
        query = (
            select(WebhookDelivery, WebhookEndpoint, Event)
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .join(Event, col(Event.id) == col(WebhookDelivery.event_row_id))
            .where(col(WebhookDelivery.status) == PENDING, col(WebhookDelivery.next_attempt_at) <= now,
                   col(WebhookEndpoint.enabled).is_(True))
            .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
            .limit(limit)
        )
        return [(d, e, ev) for d, e, ev in (await self.session.execute(query)).all()]

    async def delivery_for_update(self, delivery_id: int) -> WebhookDelivery | None:
        return await self.session.get(WebhookDelivery, delivery_id, with_for_update=True)

    async def get_delivery(self, endpoint_id: uuid.UUID, delivery_id: int) -> WebhookDelivery | None:
        delivery = await self.session.get(WebhookDelivery, delivery_id)
        return delivery if delivery is not None and delivery.endpoint_id == endpoint_id else None

    async def deliveries(self, endpoint_id: uuid.UUID, status: str | None, limit: int,
                         offset: int) -> tuple[list[WebhookDelivery], int]:
        clauses = [col(WebhookDelivery.endpoint_id) == endpoint_id]
        if status is not None:
            clauses.append(col(WebhookDelivery.status) == status)
        query = select(WebhookDelivery).where(*clauses).order_by(col(WebhookDelivery.id).desc())
        items = (await self.session.execute(query.limit(limit).offset(offset))).scalars()
        total = await self.session.execute(select(func.count()).select_from(WebhookDelivery).where(*clauses))
        return list(items), int(total.scalar_one())

    async def resume_pending(self, endpoint_id: uuid.UUID, now: datetime) -> None:
        """An endpoint enabled again: its pending deliveries are due now."""
        await self.session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.endpoint_id) == endpoint_id, col(WebhookDelivery.status) == PENDING)
            .values(next_attempt_at=now)
        )

    async def next_due_at(self) -> datetime | None:
        query = (
            select(col(WebhookDelivery.next_attempt_at))
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .where(col(WebhookDelivery.status) == PENDING, col(WebhookEndpoint.enabled).is_(True))
            .order_by(col(WebhookDelivery.next_attempt_at)).limit(1)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def purge_finished(self, last_attempt_before: datetime, limit: int) -> int:
        """Delete up to `limit` succeeded or failed deliveries last attempted before the cutoff; returns how many.

        The status is checked again by the delete itself, so a delivery redelivered meanwhile (pending again)
        stays."""
        finished = col(WebhookDelivery.status).in_(FINISHED)
        last_attempt = func.coalesce(col(WebhookDelivery.last_attempt_at), col(WebhookDelivery.created_at))
        ids = list((await self.session.execute(
            select(col(WebhookDelivery.id)).where(finished, last_attempt < last_attempt_before)
            .order_by(col(WebhookDelivery.id)).limit(limit)
        )).scalars())
        if not ids:
            return 0
        result = await self.session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids), finished))
        return int(getattr(result, "rowcount", 0) or 0)
