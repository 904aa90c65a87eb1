"""Recording PREMIS events (idempotently, in bulk) and listing them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from clients.metadata.schemas import AgentRecord, BulkResult, EventRead, EventRecord, ObjectEventRecord
from servicekit.pagination import Page, PageParams
from servicekit.problems import Conflict, Problem
from services.metadata.agents import repository as agents
from services.metadata.events import repository
from services.metadata.packages.service import require_package


def invalid(detail: str) -> Problem:
    return Problem(422, "Invalid request", detail)


async def record_events(
    session: AsyncSession, package_uuid: UUID, events: Sequence[tuple[UUID, EventRecord]],
    agents_of: Callable[[EventRecord], Sequence[AgentRecord]] | None = None,
) -> tuple[int, int]:
    """Record (object_uuid, event) pairs; events already recorded are left as they are. `agents_of` gives the
    agents of an event (by default its own).

    Returns (created, unchanged). The package must exist (callers check).
    """
    uuids = [event.uuid for _, event in events]
    if len(set(uuids)) != len(uuids):
        raise invalid("The same event uuid appears more than once in the request")
    known = await repository.existing(session, uuids)
    if others := [str(uuid) for uuid, package in known.items() if package != package_uuid]:
        raise Conflict(f"Events already recorded for another package: {', '.join(others[:10])}")
    new = [(object_uuid, event) for object_uuid, event in events if event.uuid not in known]
    agent_lists = [event.agents if agents_of is None else agents_of(event) for _, event in new]
    # Every event names the same few agents: dump each once, not once per event. Events sharing one list (a
    # request's agents) share its agent ids too, by the list's identity (each list lives as long as this call).
    unique_agents = {
        (agent.identifier_type, agent.identifier_value): agent
        for listed in {id(listed): listed for listed in agent_lists}.values() for agent in listed
    }
    agent_ids = await agents.ensure(session, (agent.model_dump() for agent in unique_agents.values()))
    ids_of_list: dict[int, list[int]] = {}
    event_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    for (object_uuid, event), listed in zip(new, agent_lists, strict=True):
        event_rows.append(
            {
                "uuid": event.uuid,
                "package_uuid": package_uuid,
                "object_uuid": object_uuid,
                "type": event.type,
                "datetime": event.datetime,
                "detail": event.detail,
                "outcome": event.outcome,
                "outcome_note": event.outcome_note,
            }
        )
        linked = ids_of_list.get(id(listed))
        if linked is None:
            linked = ids_of_list[id(listed)] = sorted(
                {agent_ids[(agent.identifier_type, agent.identifier_value)] for agent in listed})
        link_rows.extend({"event_uuid": event.uuid, "agent_id": agent_id} for agent_id in linked)
    await repository.insert(session, event_rows, link_rows)
    return len(new), len(events) - len(new)


async def add_package_events(
    session: AsyncSession, package_uuid: UUID, events: Sequence[ObjectEventRecord]
) -> BulkResult:
    await require_package(session, package_uuid)
    pairs = [(event.object_uuid or package_uuid, event) for event in events]
    created, unchanged = await record_events(session, package_uuid, pairs)
    return BulkResult(created=created, unchanged=unchanged)


async def list_events(
    session: AsyncSession, package_uuid: UUID, object_uuid: UUID | None, params: PageParams,
    event_type: str | None = None,
) -> Page[EventRead]:
    await require_package(session, package_uuid)
    rows = await repository.page(session, package_uuid, object_uuid, params.limit, params.offset, event_type)
    agents_by_event = await repository.agents_of(session, [row.uuid for row in rows])
    items = [
        EventRead(
            uuid=row.uuid,
            package_uuid=row.package_uuid,
            object_uuid=row.object_uuid,
            type=row.type,
            datetime=row.datetime,
            detail=row.detail,
            outcome=row.outcome,
            outcome_note=row.outcome_note,
            agents=[
                AgentRecord(
                    identifier_type=agent.identifier_type,
                    identifier_value=agent.identifier_value,
                    name=agent.name,
                    agent_type=agent.agent_type,
                )
                for agent in agents_by_event.get(row.uuid, [])
            ],
        )
        for row in rows
    ]
    total = await repository.count(session, package_uuid, object_uuid, event_type)
    return Page.of(items, total, params)
