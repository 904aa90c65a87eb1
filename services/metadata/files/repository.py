"""Every query on PREMIS file objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, String, Table, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from clients.metadata.schemas import DELETED_USE
from services.metadata.db import AnyRow, MetadataTable, insert_ignoring
from services.metadata.files.models import File

file_table: Table = MetadataTable.metadata.tables["file"]
characteristics_table: Table = MetadataTable.metadata.tables["file_characteristics"]


async def existing(session: AsyncSession, uuids: Sequence[UUID]) -> dict[UUID, AnyRow]:
    """Which of these files are already recorded: (package_uuid, path) by uuid."""
    if not uuids:
        return {}
    rows = await session.execute(
        select(file_table.c.uuid, file_table.c.package_uuid, file_table.c.path).where(file_table.c.uuid.in_(uuids))
    )
    return {row.uuid: row for row in rows}


async def taken_paths(
    session: AsyncSession, package_uuid: UUID, paths: Sequence[str], *, in_aip: bool = False
) -> dict[str, UUID]:
    """Which of these paths of the package already hold a file, and which (with `in_aip`, only files whose bytes
    the AIP holds: not `deleted`)."""
    if not paths:
        return {}
    query = select(file_table.c.path, file_table.c.uuid).where(
        file_table.c.package_uuid == package_uuid, file_table.c.path.in_(paths)
    )
    if in_aip:
        query = query.where(file_table.c.use != DELETED_USE)
    return {row.path: row.uuid for row in await session.execute(query)}


async def relationships_of(session: AsyncSession, package_uuid: UUID, uuids: Sequence[UUID]) -> dict[UUID, str | None]:
    """The stored relationships (JSON text) of those of these files that the package has."""
    if not uuids:
        return {}
    rows = await session.execute(
        select(file_table.c.uuid, file_table.c.relationships)
        .where(file_table.c.package_uuid == package_uuid, file_table.c.uuid.in_(uuids))
    )
    return {row.uuid: row.relationships for row in rows}


async def set_relationships(session: AsyncSession, file_uuid: UUID, relationships: str,
                            use: str | None = None) -> None:
    values: dict[str, str] = {"relationships": relationships}
    if use is not None:
        values["use"] = use
    await session.execute(file_table.update().where(file_table.c.uuid == file_uuid).values(**values))


async def insert(
    session: AsyncSession, files: Sequence[dict[str, Any]], characteristics: Sequence[dict[str, Any]] = ()
) -> None:
    await insert_ignoring(session, file_table, files, ["uuid"])
    await insert_ignoring(session, characteristics_table, characteristics, ["file_uuid", "ordinal"])


def _filters(package_uuid: UUID, filters: Mapping[str, str | None] | None) -> list[ColumnElement[bool]]:
    clauses = [file_table.c.package_uuid == package_uuid]
    for name, value in (filters or {}).items():
        if value is None:
            continue
        if name == "path_prefix":
            # A byte-wise range rather than LIKE: no escaping, and the (package_uuid, path) index serves it.
            clauses += [file_table.c.path >= value, file_table.c.path < value + "\U0010ffff"]
        else:
            clauses.append(file_table.c[name] == value)
    return clauses


async def count(session: AsyncSession, package_uuid: UUID, filters: Mapping[str, str | None] | None = None) -> int:
    result = await session.execute(select(func.count()).select_from(file_table).where(*_filters(package_uuid, filters)))
    return int(result.scalar_one())


async def page(
    session: AsyncSession, package_uuid: UUID, limit: int, offset: int,
    filters: Mapping[str, str | None] | None = None,
) -> Sequence[File]:
    result = await session.execute(
        select(File)
        .where(*_filters(package_uuid, filters))
        .order_by(col(File.path))
        .limit(limit)
        .offset(offset)
    )
    return result.scalars().all()


async def uses(session: AsyncSession, package_uuid: UUID) -> list[str]:
    result = await session.execute(
        select(file_table.c.use).where(file_table.c.package_uuid == package_uuid).distinct()
    )
    return list(result.scalars())


async def rows_after(
    session: AsyncSession, package_uuid: UUID, *, after_path: str | None, limit: int, use: str | None = None,
    in_aip: bool = False,
) -> Sequence[AnyRow]:
    """The next `limit` files of the package in byte order of path: one keyset page of a streamed METS.

    `in_aip` leaves out files removed from the SIP (use `deleted`), whose bytes the AIP does not hold.
    Plain rows, not ORM objects, and the uuid as text: a METS of 100,000 files is built from these and the cost
    adds up.
    """
    # The uuid as the database's text (see events.repository.stream_rows_of_page for why).
    columns = [
        type_coerce(column, String).label("uuid") if column.name == "uuid" else column
        for column in file_table.c if column.name != "package_uuid"
    ]
    query = select(*columns).where(file_table.c.package_uuid == package_uuid)
    if use is not None:
        query = query.where(file_table.c.use == use)
    if in_aip:
        query = query.where(file_table.c.use != DELETED_USE)
    if after_path is not None:
        query = query.where(file_table.c.path > after_path)
    result = await session.execute(query.order_by(file_table.c.path).limit(limit))
    return result.all()


async def uuids_of_paths(
    session: AsyncSession, package_uuid: UUID, paths: Sequence[str], *, in_aip: bool = False
) -> dict[str, UUID]:
    return await taken_paths(session, package_uuid, paths, in_aip=in_aip)


async def characteristics_sizes(session: AsyncSession, file_uuids: Sequence[UUID]) -> dict[str, int]:
    """Characters of characterization output per file (dashed uuid text), for files that have any.

    Lets the METS writer read the outputs themselves in batches of bounded size.
    """
    if not file_uuids:
        return {}
    rows = await session.execute(
        select(characteristics_table.c.file_uuid, func.sum(func.length(characteristics_table.c.xml)).label("size"))
        .where(characteristics_table.c.file_uuid.in_(file_uuids))
        .group_by(characteristics_table.c.file_uuid)
    )
    return {str(row.file_uuid): int(row.size or 0) for row in rows}


async def characteristics_of(session: AsyncSession, file_uuids: Sequence[UUID]) -> Sequence[AnyRow]:
    """(file_uuid, tool, version, xml, truncated) of these files, in each file's order."""
    if not file_uuids:
        return []
    result = await session.execute(
        select(characteristics_table.c.file_uuid, characteristics_table.c.tool, characteristics_table.c.version,
               characteristics_table.c.xml, characteristics_table.c.truncated)
        .where(characteristics_table.c.file_uuid.in_(file_uuids))
        .order_by(characteristics_table.c.file_uuid, characteristics_table.c.ordinal)
    )
    return result.all()
