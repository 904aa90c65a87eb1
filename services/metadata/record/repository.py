"""Every query on the path-keyed record (descriptive metadata, rights, identifiers, directories, structMaps)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Table, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.metadata.db import AnyRow, MetadataTable, insert_ignoring
from services.metadata.record import models as _models  # noqa: F401  (registers the tables)

descriptive_table: Table = MetadataTable.metadata.tables["descriptive_metadata"]
rights_table: Table = MetadataTable.metadata.tables["rights_statement"]
directory_table: Table = MetadataTable.metadata.tables["directory"]
identifier_table: Table = MetadataTable.metadata.tables["identifier"]
structmap_table: Table = MetadataTable.metadata.tables["custom_structmap"]
IN_CHUNK = 2000


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


async def _of_paths(
    session: AsyncSession, table: Table, package_uuid: UUID, paths: Sequence[str], columns: Sequence[Any], *,
    where: Sequence[Any] = (), order: Sequence[Any] = (),
) -> list[AnyRow]:
    """`columns` of a package's rows at `paths` (that also meet `where`), read IN_CHUNK paths at a time."""
    rows: list[AnyRow] = []
    for chunk in _chunks(paths):
        query = select(*columns).where(table.c.package_uuid == package_uuid, table.c.path.in_(chunk), *where)
        rows.extend((await session.execute(query.order_by(*order))).all())
    return rows


# -- descriptive ------------------------------------------------------------------------------------------

async def existing_descriptive(session: AsyncSession, package_uuid: UUID, kind: str, paths: Sequence[str]) -> set[str]:
    table = descriptive_table
    rows = await _of_paths(session, table, package_uuid, paths, [table.c.path], where=[table.c.kind == kind])
    return {row.path for row in rows}


async def insert_descriptive(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await insert_ignoring(session, descriptive_table, rows, ["package_uuid", "path", "kind"])


async def descriptive_page(session: AsyncSession, package_uuid: UUID, limit: int, offset: int) -> Sequence[AnyRow]:
    result = await session.execute(
        select(descriptive_table.c.path, descriptive_table.c.kind, descriptive_table.c.elements)
        .where(descriptive_table.c.package_uuid == package_uuid)
        .order_by(descriptive_table.c.path, descriptive_table.c.kind)
        .limit(limit).offset(offset)
    )
    return result.all()


async def count_of(session: AsyncSession, table: Table, package_uuid: UUID) -> int:
    result = await session.execute(select(func.count()).select_from(table).where(table.c.package_uuid == package_uuid))
    return int(result.scalar_one())


async def descriptive_in_range(
    session: AsyncSession, package_uuid: UUID, after: str | None, upto: str | None
) -> Sequence[AnyRow]:
    """Descriptive rows of paths in (after, upto] in byte order (upto None: to the end)."""
    query = select(descriptive_table.c.path, descriptive_table.c.kind, descriptive_table.c.elements).where(
        descriptive_table.c.package_uuid == package_uuid
    )
    if after is not None:
        query = query.where(descriptive_table.c.path > after)
    if upto is not None:
        query = query.where(descriptive_table.c.path <= upto)
    result = await session.execute(query.order_by(descriptive_table.c.path, descriptive_table.c.kind))
    return result.all()


async def descriptive_of_paths(session: AsyncSession, package_uuid: UUID, paths: Sequence[str]) -> Sequence[AnyRow]:
    table = descriptive_table
    return await _of_paths(session, table, package_uuid, paths, [table.c.path, table.c.kind, table.c.elements])


async def descriptive_paths_after(
    session: AsyncSession, package_uuid: UUID, after: tuple[str, str] | None, limit: int
) -> Sequence[AnyRow]:
    """Keyset pages of (path, kind, elements): the dmdSecs of a METS, in the order they are numbered."""
    query = select(descriptive_table.c.path, descriptive_table.c.kind, descriptive_table.c.elements).where(
        descriptive_table.c.package_uuid == package_uuid
    )
    if after is not None:
        query = query.where(tuple_(descriptive_table.c.path, descriptive_table.c.kind) > tuple_(*after))
    result = await session.execute(query.order_by(descriptive_table.c.path, descriptive_table.c.kind).limit(limit))
    return result.all()


# -- rights -----------------------------------------------------------------------------------------------

async def existing_rights(session: AsyncSession, uuids: Sequence[UUID]) -> set[UUID]:
    found: set[UUID] = set()
    for chunk in _chunks(uuids):
        rows = await session.execute(select(rights_table.c.uuid).where(rights_table.c.uuid.in_(chunk)))
        found.update(rows.scalars())
    return found


async def insert_rights(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await insert_ignoring(session, rights_table, rows, ["uuid"])


async def rights_page(session: AsyncSession, package_uuid: UUID, limit: int, offset: int) -> Sequence[AnyRow]:
    result = await session.execute(
        select(rights_table.c.uuid, rights_table.c.path, rights_table.c.statement)
        .where(rights_table.c.package_uuid == package_uuid)
        .order_by(rights_table.c.path, rights_table.c.uuid)
        .limit(limit).offset(offset)
    )
    return result.all()


async def rights_of_paths(session: AsyncSession, package_uuid: UUID, paths: Sequence[str]) -> Sequence[AnyRow]:
    table = rights_table
    return await _of_paths(session, table, package_uuid, paths, [table.c.uuid, table.c.path, table.c.statement],
                           order=[table.c.path, table.c.uuid])


async def has_any(session: AsyncSession, table: Table, package_uuid: UUID) -> bool:
    result = await session.execute(select(literal(1)).select_from(table).where(table.c.package_uuid == package_uuid)
                                   .limit(1))
    return result.first() is not None


# -- identifiers --------------------------------------------------------------------------------------------

async def insert_identifiers(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await insert_ignoring(session, identifier_table, rows, ["package_uuid", "path", "type", "value"])


async def identifiers_of_paths(session: AsyncSession, package_uuid: UUID, paths: Sequence[str]) -> Sequence[AnyRow]:
    table = identifier_table
    return await _of_paths(session, table, package_uuid, paths, [table.c.path, table.c.type, table.c.value],
                           order=[table.c.path, table.c.id])


# -- directories ----------------------------------------------------------------------------------------------

async def existing_directories(session: AsyncSession, package_uuid: UUID, paths: Sequence[str]) -> set[str]:
    rows = await _of_paths(session, directory_table, package_uuid, paths, [directory_table.c.path])
    return {row.path for row in rows}


async def insert_directories(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await insert_ignoring(session, directory_table, rows, ["package_uuid", "path"])


async def directories_page(session: AsyncSession, package_uuid: UUID, limit: int, offset: int) -> Sequence[AnyRow]:
    result = await session.execute(
        select(directory_table.c.uuid, directory_table.c.path, directory_table.c.empty)
        .where(directory_table.c.package_uuid == package_uuid)
        .order_by(directory_table.c.path)
        .limit(limit).offset(offset)
    )
    return result.all()


async def directories_after(
    session: AsyncSession, package_uuid: UUID, after: str | None, limit: int
) -> Sequence[AnyRow]:
    """Keyset pages of directories ordered by `path + "/"`, the order that merges with file paths."""
    key = directory_table.c.path + "/"
    query = select(directory_table.c.uuid, directory_table.c.path, directory_table.c.empty).where(
        directory_table.c.package_uuid == package_uuid
    )
    if after is not None:
        query = query.where(key > after)
    result = await session.execute(query.order_by(key).limit(limit))
    return result.all()


# -- structMaps ---------------------------------------------------------------------------------------------

async def structmap(session: AsyncSession, package_uuid: UUID, ordinal: int) -> AnyRow | None:
    result = await session.execute(
        select(structmap_table.c.id, structmap_table.c.digest).where(
            structmap_table.c.package_uuid == package_uuid, structmap_table.c.ordinal == ordinal
        )
    )
    return result.first()


async def insert_structmap(session: AsyncSession, row: dict[str, Any]) -> None:
    await insert_ignoring(session, structmap_table, [row], ["package_uuid", "ordinal"])


async def replace_structmap(session: AsyncSession, row_id: int, values: dict[str, Any]) -> None:
    await session.execute(structmap_table.update().where(structmap_table.c.id == row_id).values(**values))


async def structmap_ids(session: AsyncSession, package_uuid: UUID) -> list[int]:
    result = await session.execute(
        select(structmap_table.c.id).where(structmap_table.c.package_uuid == package_uuid)
        .order_by(structmap_table.c.ordinal)
    )
    return list(result.scalars())


async def structmap_xml(session: AsyncSession, row_id: int) -> str:
    result = await session.execute(select(structmap_table.c.xml).where(structmap_table.c.id == row_id))
    return str(result.scalar_one())
