"""Every query on events and their agent links."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, String, Table, cast, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.metadata.agents.models import Agent
from services.metadata.db import AnyRow, MetadataTable, insert_ignoring, rows_keyed_by
from services.metadata.events.models import Event
from services.metadata.files import models as _files  # noqa: F401  (defines the file table used below)

event_table: Table = MetadataTable.metadata.tables["event"]
link_table: Table = MetadataTable.metadata.tables["event_agent"]
agent_table: Table = MetadataTable.metadata.tables["agent"]
file_table: Table = MetadataTable.metadata.tables["file"]
# Bound parameters per IN list; far below SQLite's and asyncpg's limits (32766).
IN_CHUNK = 5000


def _chunks(values: Sequence[UUID]) -> Iterable[Sequence[UUID]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


async def existing(session: AsyncSession, uuids: Sequence[UUID]) -> dict[UUID, UUID]:
    """Which of these events are already recorded, mapped to their package."""
    return dict(await rows_keyed_by(session, event_table, "uuid", uuids, ["uuid", "package_uuid"]))


async def insert(session: AsyncSession, events: Sequence[dict[str, Any]], links: Sequence[dict[str, Any]]) -> None:
    await insert_ignoring(session, event_table, events, ["uuid"])
    await insert_ignoring(session, link_table, links, ["event_uuid", "agent_id"])


# What a METS needs of an event (the package is known, and uuids are dear to convert by the thousand).
STREAM_COLUMNS = [column for column in event_table.c if column.name != "package_uuid"]


def _filter(package_uuid: UUID, object_uuid: UUID | None, event_type: str | None = None) -> list[ColumnElement[bool]]:
    clauses = [event_table.c.package_uuid == package_uuid]
    if object_uuid is not None:
        clauses.append(event_table.c.object_uuid == object_uuid)
    if event_type is not None:
        clauses.append(event_table.c.type == event_type)
    return clauses


async def count(
    session: AsyncSession, package_uuid: UUID, object_uuid: UUID | None = None, event_type: str | None = None
) -> int:
    result = await session.execute(
        select(func.count()).select_from(event_table).where(*_filter(package_uuid, object_uuid, event_type))
    )
    return int(result.scalar_one())


async def page(
    session: AsyncSession, package_uuid: UUID, object_uuid: UUID | None, limit: int, offset: int,
    event_type: str | None = None,
) -> Sequence[Event]:
    result = await session.execute(
        select(Event)
        .where(*_filter(package_uuid, object_uuid, event_type))
        .order_by(col(Event.datetime), col(Event.uuid))
        .limit(limit)
        .offset(offset)
    )
    return result.scalars().all()


async def agents_of(session: AsyncSession, event_uuids: Sequence[UUID]) -> dict[UUID, list[Agent]]:
    """The agents of each event, in a stable order."""
    agents: dict[UUID, list[Agent]] = {}
    for chunk in _chunks(event_uuids):
        rows = await session.execute(
            select(link_table.c.event_uuid, Agent)
            .join(agent_table, agent_table.c.id == link_table.c.agent_id)
            .where(link_table.c.event_uuid.in_(chunk))
            .order_by(agent_table.c.id)
        )
        for event_uuid, agent in rows:
            agents.setdefault(event_uuid, []).append(agent)
    return agents


async def rows_of_objects(session: AsyncSession, object_uuids: Sequence[UUID]) -> Sequence[AnyRow]:
    """Plain rows (cheaper than ORM objects when streaming a METS) of the events about these objects."""
    result = await session.execute(
        select(*STREAM_COLUMNS)
        .where(event_table.c.object_uuid.in_(object_uuids))
        .order_by(event_table.c.datetime, event_table.c.uuid)
    )
    return result.all()


async def types_of_objects(session: AsyncSession, object_uuids: Sequence[UUID]) -> dict[str, set[str]]:
    """The event types of each of these objects, keyed by the object's uuid as the database's text (as
    `files.repository.rows_after` reads it): all the search index needs of events, without reading each event
    whole and making uuid and datetime objects of it."""
    result = await session.execute(
        select(type_coerce(event_table.c.object_uuid, String), event_table.c.type)
        .where(event_table.c.object_uuid.in_(object_uuids))
        .distinct()
    )
    found: dict[str, set[str]] = {}
    for object_uuid, event_type in result:
        found.setdefault(str(object_uuid), set()).add(event_type)
    return found


async def links_of_objects(session: AsyncSession, object_uuids: Sequence[UUID]) -> Sequence[AnyRow]:
    """(event_uuid, agent_id) of every event about these objects."""
    result = await session.execute(
        select(link_table.c.event_uuid, link_table.c.agent_id)
        .join(event_table, event_table.c.uuid == link_table.c.event_uuid)
        .where(event_table.c.object_uuid.in_(object_uuids))
        .order_by(link_table.c.agent_id)
    )
    return result.all()


def _page_of_files(package_uuid: UUID, use: str | None, after_path: str | None, limit: int) -> Any:
    """The uuids of one keyset page of the package's files (the same page `files.repository.rows_after` reads)."""
    query = select(file_table.c.uuid).where(file_table.c.package_uuid == package_uuid)
    if use is not None:
        query = query.where(file_table.c.use == use)
    if after_path is not None:
        query = query.where(file_table.c.path > after_path)
    return query.order_by(file_table.c.path).limit(limit)


# Identifiers are read as the database's own text (hex on SQLite) rather than as uuid.UUID, and each event's
# agents come aggregated into one text ("1,2,3"): a METS page holds hundreds of thousands of values, and building
# UUID objects and link rows was the largest cost of writing a METS.
async def stream_rows_of_page(
    session: AsyncSession, package_uuid: UUID, use: str | None, after_path: str | None, limit: int
) -> Sequence[AnyRow]:
    """(uuid, object_uuid, type, datetime, detail, outcome, outcome_note, agent_ids) of the events of one keyset
    page of files; uuids as text, agent_ids a comma-separated text or None."""
    page = _page_of_files(package_uuid, use, after_path, limit).subquery()
    if session.get_bind().dialect.name == "postgresql":
        agent_ids = func.string_agg(cast(link_table.c.agent_id, String), ",")
    else:
        agent_ids = func.group_concat(link_table.c.agent_id)
    result = await session.execute(
        select(
            type_coerce(event_table.c.uuid, String).label("uuid"),
            type_coerce(event_table.c.object_uuid, String).label("object_uuid"),
            event_table.c.type, event_table.c.datetime, event_table.c.detail, event_table.c.outcome,
            event_table.c.outcome_note, agent_ids.label("agent_ids"),
        )
        .select_from(event_table.outerjoin(link_table, link_table.c.event_uuid == event_table.c.uuid))
        .where(event_table.c.object_uuid.in_(select(page.c.uuid)))
        .group_by(event_table.c.uuid)
        .order_by(event_table.c.datetime, event_table.c.uuid)
    )
    return result.all()
