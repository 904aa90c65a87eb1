"""Domain events, written in the same transaction as the change they describe (an outbox per service).

A service calls `Outbox.record(session, type, ...)` beside its state change: both commit or neither does, so no
event is lost or invented when a process dies between the two. The gateway pulls the outbox over HTTP
(`/<source>-outbox`, internal token), keeps the events in its own ordered log, then acknowledges them; only then
are they dropped here. Each event has a UUID of its own, kept by every copy: a pull repeated after a lost
acknowledgement hands the same ids again, and the gateway keeps one of each.

Events are read oldest first by row id, and what is not acknowledged is handed again, so a transaction that
commits after a younger one (PostgreSQL sequences are not commit-ordered) is still collected, never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, Uuid, delete, event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from clients.outbox.schemas import OutboxAck, OutboxAcknowledged, OutboxBatch, OutboxEvent
from servicekit.auth import require_internal_token
from servicekit.background import wait_event
from servicekit.db import UTCDateTime, utcnow
from servicekit.deps import SessionDep, SessionsDep
from servicekit.ids import new_id
from servicekit.openapi import internal_operation

TABLE_NAME = "outbox"
_RECORDED = "amber_outbox_recorded"
MAX_WAIT_SECONDS = 30.0
# A pull also looks again this often, for events another process of the same service committed.
RECHECK_SECONDS = 1.0


def outbox_table(metadata: MetaData) -> Table:
    """The `outbox` table in a service's own metadata (its migration creates it)."""
    return Table(
        TABLE_NAME, metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", Uuid(), nullable=False, unique=True),
        Column("type", String(100), nullable=False),
        Column("subject", Uuid(), nullable=True),
        Column("related", Uuid(), nullable=True),
        Column("occurred_at", UTCDateTime(), nullable=False),
        Column("payload", JSON, nullable=False),
    )


class Wakeup:
    """Wakes the pulls waiting in this process once a transaction that recorded events has committed."""

    def __init__(self) -> None:
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.stopping = False

    def stop(self) -> None:
        """The process is shutting down: pulls answer at once with what they have, so the server's graceful
        shutdown is not held for a long poll's whole wait."""
        self.stopping = True
        self.notify()

    def notify(self) -> None:
        for loop, waiter in list(self._waiters):
            with contextlib.suppress(RuntimeError):  # a loop closed since (tests start many)
                loop.call_soon_threadsafe(waiter.set)

    async def wait(self, timeout: float) -> None:
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        self._waiters.add(waiter)
        try:
            await wait_event(waiter[1], timeout)
        finally:
            self._waiters.discard(waiter)


WAKEUP = Wakeup()


@event.listens_for(Session, "after_commit")
def _wake_pullers(session: Session) -> None:
    if session.info.pop(_RECORDED, False):
        WAKEUP.notify()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_RECORDED, None)


class Outbox:
    """The outbox of one service (`source`: transfer, ingest, storage): recording, reading, acknowledging."""

    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    async def record(
        self,
        session: AsyncSession,
        type_: str,
        subject: UUID | None,
        payload: dict[str, Any] | None = None,
        *,
        related: UUID | None = None,
    ) -> UUID:
        """Record the event `type_` (a stable, versioned name) in the caller's transaction; returns its id."""
        event_id = new_id()
        values = {"event_id": event_id, "type": type_, "subject": subject, "related": related,
                  "occurred_at": utcnow(), "payload": _jsonable(payload or {})}
        await session.execute(insert(self.table).values(**values))
        session.info[_RECORDED] = True
        return event_id

    async def oldest(self, session: AsyncSession, limit: int) -> list[OutboxEvent]:
        table = self.table
        rows = await session.execute(select(table).order_by(table.c.id).limit(limit))
        return [OutboxEvent(source=self.source, **{k: v for k, v in row._mapping.items() if k != "id"})
                for row in rows]

    async def acknowledge(self, session: AsyncSession, event_ids: list[UUID]) -> int:
        if not event_ids:
            return 0
        result = await session.execute(delete(self.table).where(self.table.c.event_id.in_(event_ids)))
        return int(getattr(result, "rowcount", 0) or 0)

    async def pull(self, sessions: async_sessionmaker[AsyncSession], limit: int, wait: float) -> OutboxBatch:
        """The oldest events; with none, wait (woken by a commit here, or rechecking) up to `wait` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, MAX_WAIT_SECONDS)
        while True:
            async with sessions() as session:
                events = await self.oldest(session, limit)
            remaining = deadline - loop.time()
            if events or remaining <= 0 or WAKEUP.stopping:
                return OutboxBatch(events=events)
            await WAKEUP.wait(min(remaining, RECHECK_SECONDS))


def _jsonable(value: Any) -> Any:
    """UUIDs, datetimes and enums as the JSON strings the wire will carry."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value"):  # an enum
        return _jsonable(value.value)
    return str(value)


def outbox_router(outbox: Outbox) -> APIRouter:
    """The internal routes the gateway's collector calls: `GET /<source>-outbox` and `POST /<source>-outbox/ack`.

    The first segment names the service, so the gateway's routing (by first segment) tells them apart; the
    operation ids carry it too, as they must be unique across the stack."""
    router = APIRouter(tags=["events"], dependencies=[Depends(require_internal_token)])
    source = outbox.source

    async def pull_outbox(
        sessions: SessionsDep,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0.0,
    ) -> OutboxBatch:
        return await outbox.pull(sessions, limit, wait)

    async def acknowledge_outbox(body: OutboxAck, session: SessionDep) -> OutboxAcknowledged:
        return OutboxAcknowledged(dropped=await outbox.acknowledge(session, body.event_ids))

    router.add_api_route(
        f"/{source}-outbox", pull_outbox, methods=["GET"], name=f"pull_{source}_outbox", response_model=OutboxBatch,
        summary="The oldest domain events not yet collected (internal)", openapi_extra=internal_operation(),
    )
    router.add_api_route(
        f"/{source}-outbox/ack", acknowledge_outbox, methods=["POST"], name=f"acknowledge_{source}_outbox",
        response_model=OutboxAcknowledged, summary="Drop collected domain events (internal)",
        openapi_extra=internal_operation(),
    )
    return router
