"""The live event stream (server-sent events): what the log holds after the client's last id, then each new
event as it is collected, with comment heartbeats while idle.

Resuming from `Last-Event-ID` yields every later event once and in order: log ids follow commit order
(`collector.py`) and each read asks for ids above the last one sent. The caller's key is checked again at every
heartbeat, so a revoked key or a disabled user stops receiving.

A stream standing below what the retention purge has deleted (`retention.py`) is told once, by an
`events.purged` message without an id, then goes on with the oldest events kept after its position.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.events.schemas import PURGED_EVENT, EventRead, EventsPurged
from gateway.events.bus import EventBus
from gateway.events.models import Event
from gateway.events.repository import EventFilter, EventRepository
from servicekit.db import unit_of_work

BATCH = 200
RECONNECT_MS = 2000


def sse_message(event: Event) -> str:
    data = EventRead.model_validate(event).model_dump_json()
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n"


def purged_message(after: int, purged_through: int) -> str:
    data = EventsPurged(after=after, purged_through=purged_through).model_dump_json()
    return f"event: {PURGED_EVENT}\ndata: {data}\n\n"


async def start_after(sessions: async_sessionmaker[AsyncSession], last_event_id: int | None) -> tuple[int, int]:
    """Where a stream starts (after the client's last id, or at the end of the log for a new client), and the
    highest id the retention purge has deleted."""
    async with unit_of_work(sessions) as session:
        repo = EventRepository(session)
        purged_through = await repo.purged_through()
        if last_event_id is not None:
            return last_event_id, purged_through
        # Past the purge even when it emptied the log: a new client has missed nothing.
        return max(await repo.last_id(), purged_through), purged_through


async def event_stream(
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    where: EventFilter,
    after: int,
    heartbeat: float,
    still_allowed: Callable[[], Awaitable[bool]],
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncGenerator[str]:
    # An id without data: where this stream starts, so a client reconnecting before any event resumes from here.
    yield f"retry: {RECONNECT_MS}\nid: {after}\n\n"
    told = 0
    while not await disconnected():
        async with unit_of_work(sessions) as session:
            repo = EventRepository(session)
            events = await repo.after(after, where, BATCH)
            # Read after the events: a purge committed in between shows here, never as a silent hole.
            purged_through = await repo.purged_through()
        if purged_through > max(after, told):
            told = purged_through
            yield purged_message(after, purged_through)
        for event in events:
            assert event.id is not None
            after = event.id
            yield sse_message(event)
        if len(events) == BATCH:
            continue
        await bus.wait(heartbeat)
        if not await still_allowed():
            return
        yield ": heartbeat\n\n"
