"""Every query on the search index: SQLite FTS5 or PostgreSQL tsvector/GIN, chosen by the session's database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Uuid, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import UTCDateTime
from services.metadata.db import AnyRow, MetadataTable
from services.metadata.search.models import SearchState

ENTRY_COLUMNS = ("kind", "package_uuid", "file_uuid", "name", "path", "puid", "format_name", "size", "date")
SORTS = {"name": "e.name", "date": "e.date", "size": "e.size", "path": "e.path"}
package_table = MetadataTable.metadata.tables["package"]


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def state(session: AsyncSession, package_uuid: UUID) -> SearchState | None:
    return await session.get(SearchState, package_uuid)


async def save_state(session: AsyncSession, package_uuid: UUID, **values: Any) -> SearchState:
    current = await session.get(SearchState, package_uuid)
    if current is None:
        current = SearchState(package_uuid=package_uuid, **values)
        session.add(current)
    else:
        for key, value in values.items():
            setattr(current, key, value)
    await session.flush()
    return current


async def queued(session: AsyncSession, limit: int = 100) -> list[UUID]:
    state_table = MetadataTable.metadata.tables["search_state"]
    result = await session.execute(
        select(state_table.c.package_uuid).where(state_table.c.state == "queued")
        .order_by(state_table.c.requested_at).limit(limit)
    )
    return list(result.scalars())


async def lock_package(session: AsyncSession, package_uuid: UUID) -> None:
    """Serialise indexing of one package (PostgreSQL; SQLite serialises every writer anyway)."""
    if _postgres(session):
        state_table = MetadataTable.metadata.tables["search_state"]
        await session.execute(
            select(state_table.c.package_uuid).where(state_table.c.package_uuid == package_uuid).with_for_update()
        )


async def delete_package(session: AsyncSession, package_uuid: UUID) -> None:
    connection = await session.connection()
    if _postgres(session):
        await connection.exec_driver_sql("DELETE FROM search_entry WHERE package_uuid = $1", (package_uuid,))
        return
    key = package_uuid.hex
    await connection.exec_driver_sql(
        "DELETE FROM search_fts WHERE rowid IN (SELECT id FROM search_entry WHERE package_uuid = ?)", (key,)
    )
    await connection.exec_driver_sql("DELETE FROM search_entry WHERE package_uuid = ?", (key,))


async def insert_entries(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    """Entries with their full-text fields (`name`, `path`, `puid`, `format_name`, `dc`, `events`), normalised."""
    if not entries:
        return
    connection = await session.connection()
    if _postgres(session):
        sql = (
            "INSERT INTO search_entry (kind, package_uuid, file_uuid, name, path, puid, format_name, size, date,"
            " document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
            " setweight(to_tsvector('simple', $10), 'A') || to_tsvector('simple', $11))"
        )
        await connection.exec_driver_sql(sql, [
            (e["kind"], e["package_uuid"], e["file_uuid"], e["name"], e["path"], e["puid"], e["format_name"],
             e["size"], e["date"], e["text_name"], e["text_rest"])
            for e in entries
        ])
        return
    result = await connection.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM search_entry")
    first = int(result.scalar_one()) + 1
    rows = []
    texts = []
    for offset, e in enumerate(entries):
        date = e["date"].astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ") if e["date"] else None
        rows.append((first + offset, e["kind"], e["package_uuid"].hex, e["file_uuid"].hex if e["file_uuid"] else None,
                     e["name"], e["path"], e["puid"], e["format_name"], e["size"], date))
        texts.append((first + offset, e["text_name"], e["text_path"], e["text_puid"], e["text_format"], e["text_dc"],
                      e["text_events"]))
    await connection.exec_driver_sql(
        "INSERT INTO search_entry (id, kind, package_uuid, file_uuid, name, path, puid, format_name, size, date)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows,
    )
    await connection.exec_driver_sql(
        "INSERT INTO search_fts (rowid, name, path, puid, format_name, dc, events) VALUES (?, ?, ?, ?, ?, ?, ?)",
        texts,
    )


async def search(
    session: AsyncSession,
    *,
    terms: list[str],
    filters: dict[str, Any],
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[AnyRow], int]:
    postgres = _postgres(session)
    params: dict[str, Any] = {}
    where: list[str] = []
    join = ""
    rank = "e.id"
    if terms:
        if postgres:
            params["q"] = " ".join(terms)
            where.append("e.document @@ plainto_tsquery('simple', :q)")
            rank = "ts_rank(e.document, plainto_tsquery('simple', :q)) DESC, e.id"
        else:
            params["q"] = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
            join = "JOIN search_fts f ON f.rowid = e.id"
            where.append("search_fts MATCH :q")
            rank = "f.rank, e.id"
    for name, value in filters.items():
        if value is None:
            continue
        if name in ("package_uuid",):
            params[name] = value if postgres else value.hex
            where.append(f"e.{name} = :{name}")
        elif name in ("kind", "puid"):
            params[name] = value
            where.append(f"e.{name} = :{name}")
        elif name == "format_name":
            params[name] = value.lower()
            where.append("lower(e.format_name) = :format_name")
        elif name == "min_size":
            params[name] = value
            where.append("e.size >= :min_size")
        elif name == "max_size":
            params[name] = value
            where.append("e.size <= :max_size")
        elif name in ("date_from", "date_to"):
            params[name] = value if postgres else value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
            where.append(f"e.date {'>=' if name == 'date_from' else '<='} :{name}")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    order = rank if sort == "relevance" else f"{SORTS[sort]} {'DESC' if descending else 'ASC'}, e.id"
    base = f"FROM search_entry e JOIN package p ON p.uuid = e.package_uuid {join} {clause}"
    query = text(
        f"SELECT e.kind, e.package_uuid, e.file_uuid, e.name, e.path, e.puid, e.format_name, e.size, e.date,"
        f" p.name AS package_name {base} ORDER BY {order} LIMIT :limit OFFSET :offset"
    ).columns(package_uuid=Uuid(), file_uuid=Uuid(), date=UTCDateTime())
    rows = (await session.execute(query, {**params, "limit": limit, "offset": offset})).all()
    total = (await session.execute(text(f"SELECT count(*) {base}"), params)).scalar_one()
    return list(rows), int(total)
