"""Following the gateway's live event stream (server-sent events), resuming after a dropped connection."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx

from clients.events.schemas import PURGED_EVENT, EventRead, EventsPurged
from servicekit.http import ServiceClient, ServiceError

log = logging.getLogger(__name__)
# The gateway sends a heartbeat every 15 s by default: a silence much longer than that is a dead connection.
READ_TIMEOUT_SECONDS = 60.0


async def sse_messages(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str | None, str]]:
    """(id, event, data) of each message; comments (heartbeats) are skipped. A message with an id and no data
    only moves the resumption point (the stream's first one says where it starts)."""
    event_id: str | None = None
    event_type: str | None = None
    data: list[str] = []
    async for line in lines:
        if line == "":
            if data or event_id is not None:
                yield event_id, event_type, "\n".join(data)
            event_id, event_type, data = None, None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            event_id = value
        elif field == "event":
            event_type = value
        elif field == "data":
            data.append(value)


class EventsClient(ServiceClient):
    service = "gateway"

    async def follow(
        self,
        *,
        packages: Sequence[uuid.UUID] = (),
        types: Sequence[str] = (),
        last_event_id: int | None = None,
        reconnect_delay: float = 1.0,
    ) -> AsyncIterator[EventRead]:
        """Every matching event after `last_event_id` (None: from now on), for ever; a dropped connection is
        resumed with `Last-Event-ID`, so nothing is missed or repeated."""
        params: list[tuple[str, str]] = [("package", str(p)) for p in packages] + [("type", t) for t in types]
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_event_id is not None:
                headers["Last-Event-ID"] = str(last_event_id)
            try:
                async with self.stream("GET", "/events", params=params, headers=headers,
                                       timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=5.0)) as response:
                    async for message_id, kind, data in sse_messages(response.aiter_lines()):
                        if kind == PURGED_EVENT:
                            purged = EventsPurged.model_validate_json(data)
                            log.warning("events after %s up to %s may be missing: the gateway's log no longer "
                                        "keeps them", purged.after, purged.purged_through)
                            continue
                        if not data:
                            last_event_id = int(message_id) if message_id and message_id.isdigit() else last_event_id
                            continue
                        event = EventRead.model_validate_json(data)
                        last_event_id = event.id
                        yield event
            except (httpx.TransportError, ServiceError) as exc:
                if isinstance(exc, ServiceError) and exc.status is not None and exc.status < 500:
                    raise
                log.info("event stream interrupted (%s); resuming after %s", exc, last_event_id)
            await asyncio.sleep(reconnect_delay)
