"""Pulling a service's outbox: the gateway's collector is the one caller."""

from __future__ import annotations

from uuid import UUID

import httpx

from clients.outbox.schemas import OutboxAck, OutboxAcknowledged, OutboxBatch
from servicekit.http import ServiceClient


class OutboxClient(ServiceClient):
    """`source` names the service (its outbox lives under `/<source>-outbox`)."""

    def __init__(self, base_url: str, source: str, *, token: str | None = None, timeout: float = 30.0,
                 retries: int = 1, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, token=token, timeout=timeout, retries=retries, transport=transport)
        self.source = source
        self.service = source

    async def pull(self, *, limit: int, wait: float) -> OutboxBatch:
        """The oldest unacknowledged events; waits up to `wait` seconds for one when there is none."""
        response = await self.request(
            "GET", f"/{self.source}-outbox", params={"limit": limit, "wait": wait},
            timeout=httpx.Timeout(wait + 30.0, connect=5.0),
        )
        return OutboxBatch.model_validate(response.json())

    async def acknowledge(self, event_ids: list[UUID]) -> int:
        """Drop events the gateway has kept; idempotent (an id already dropped is ignored)."""
        response = await self.request(
            "POST", f"/{self.source}-outbox/ack", json=OutboxAck(event_ids=event_ids).model_dump(mode="json"),
            idempotent=True,
        )
        return OutboxAcknowledged.model_validate(response.json()).dropped
