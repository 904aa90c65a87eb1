"""The stack's domain events: the live stream (SSE) and the paged log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import MutableHeaders

from clients.events.schemas import PURGED_HEADER, EventRead
from gateway.auth import AUTHORIZED, CurrentUserDep, current_user
from gateway.events.repository import EventFilter, EventRepository
from gateway.events.stream import event_stream, start_after
from gateway.settings import API_PREFIX
from servicekit.deps import SessionDep
from servicekit.pagination import SQL_INT_MAX, Page, PageDep
from servicekit.problems import Problem
from servicekit.roles import Role, role_operation

router = APIRouter(prefix=API_PREFIX, tags=["events"], dependencies=AUTHORIZED)
SSE = "text/event-stream"

TypeQuery = Annotated[list[str], Query(
    alias="type", description="Event type prefixes (`ingest.`, `fixity.failed`); repeat for several.",
)]
PackageQuery = Annotated[list[uuid.UUID], Query(
    alias="package", description="Packages (transfer, SIP/AIP, DIP UUIDs) the events are about; repeat for several.",
)]


def _last_event_id(header: str | None, after: int | None) -> int | None:
    if header is None or not header.strip():
        return after
    try:
        value = int(header.strip())
    except ValueError as exc:
        raise Problem(422, "Invalid Last-Event-ID", f"{header!r} is not an event id") from exc
    if not 0 <= value <= SQL_INT_MAX:
        raise Problem(422, "Invalid Last-Event-ID", f"{header!r} is not an event id")
    return value


@router.get(
    "/events",
    response_model=Page[EventRead],
    summary="The domain events: a live stream (Accept: text/event-stream) or the paged log",
    responses={200: {"content": {SSE: {"schema": {"type": "string"}}},
                     "description": "The log as JSON, or with `Accept: text/event-stream` the live stream",
                     "headers": {PURGED_HEADER: {
                         "description": "Present when the events asked for start below what the retention purge "
                         "has deleted: the highest id purged (events up to it may be missing).",
                         "schema": {"type": "integer"}}}}},
    openapi_extra=role_operation(Role.reader),
)
async def list_events(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageDep,
    user: CurrentUserDep,
    types: TypeQuery = [],  # noqa: B006 - FastAPI copies query defaults
    packages: PackageQuery = [],  # noqa: B006
    after: Annotated[int | None, Query(ge=0, le=SQL_INT_MAX, description="Only events after this id.")] = None,
    last_event_id: Annotated[str | None, Header(description="SSE resumption: the last id received.")] = None,
) -> Page[EventRead] | StreamingResponse:
    """Events from every service (`transfer.*`, `ingest.*`, `aip.*`, `dip.*`, `fixity.*`, `replication.*`,
    `deletion.*`; each name ends in its payload version, `.v1`), in the order the stack collected them.

    As a stream: each event is an SSE message whose `id` is the event's log id and `event` its type; reconnecting
    with `Last-Event-ID` (or `after`) resumes with the next one, none missed or repeated. A new stream without
    either starts with the next event collected; `Last-Event-ID: 0` replays the log first.

    The log keeps events for a bounded time (`docs/EVENTS.md`, retention). Asking for events after an id the
    purge has passed is answered with what is kept after it, and says so: the `Amber-Events-Purged-Through` header
    and, on the stream, an `events.purged` message (no id) before the events."""
    where = EventFilter(types, packages)
    if SSE in request.headers.get("accept", ""):
        return await _stream(request, where, _last_event_id(last_event_id, after))
    repo = EventRepository(session)
    items, total = await repo.page(where, after or 0, page.limit, page.offset)
    _purged_header(response.headers, after or 0, await repo.purged_through())
    return Page[EventRead].of([EventRead.model_validate(i) for i in items], total, page)


async def _stream(request: Request, where: EventFilter, last: int | None) -> StreamingResponse:
    state = request.app.state

    async def still_allowed() -> bool:
        try:
            await current_user(request)
        except Problem:
            return False
        return True

    after, purged_through = await start_after(state.sessions, last)
    body = event_stream(state.sessions, state.event_bus, where, after, state.settings.events_heartbeat_seconds,
                        still_allowed, request.is_disconnected)
    response = StreamingResponse(body, media_type=SSE, headers={"Cache-Control": "no-store",
                                                                "X-Accel-Buffering": "no"})
    _purged_header(response.headers, after, purged_through)
    return response


def _purged_header(headers: MutableHeaders, after: int, purged_through: int) -> None:
    if purged_through > after:
        headers[PURGED_HEADER] = str(purged_through)
