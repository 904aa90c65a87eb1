"""The metadata service's table registry, column types and the insert-or-ignore every bulk write relies on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeAlias

from sqlalchemy import Row, Table, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class MetadataTable(SQLModel, registry=registry()):
    """Base of the metadata service's tables: their own registry, so no other service's tables mix in."""


AnyRow: TypeAlias = Row[*tuple[Any, ...]]
"""A plain result row (Core, not ORM): what the METS stream reads, since ORM objects cost too much there."""


# Paths sort and compare byte-wise on both databases: SQLite's BINARY collation already does, PostgreSQL needs
# "C". Declaring it on the column (not per query) lets the (package_uuid, path) index serve ordered keyset scans.
PathText = Text().with_variant(Text(collation="C"), "postgresql")


async def insert_ignoring(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], conflict_columns: Sequence[str]
) -> None:
    """Insert `rows` in one statement, skipping those whose `conflict_columns` already exist.

    This is what makes retried batches harmless: the second attempt writes nothing. Any *other* uniqueness
    violation still raises, so a clash on a different key is not silently swallowed.

    A 5000-file batch is some 65,000 rows, so the statement goes to the driver directly, with values converted
    by each column type's own bind processor exactly as SQLAlchemy would: on PostgreSQL as one INSERT ... SELECT
    FROM unnest() of one array per column (one round trip, whatever the row count), on SQLite as an executemany
    (in-process, so rows cost no round trips). SQLAlchemy's per-row parameter handling would cost more than the
    database's own work.
    """
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    columns = [column for column in table.columns if column.name in rows[0]]
    quote = dialect.identifier_preparer.quote
    target = ", ".join(quote(c.name) for c in columns)
    conflict = f"ON CONFLICT ({', '.join(quote(name) for name in conflict_columns)}) DO NOTHING"
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]

    def values(index: int, name: str) -> list[Any]:
        process = processors[index]
        if process is None:
            return [row[name] for row in rows]
        return [None if row[name] is None else process(row[name]) for row in rows]

    if dialect.name == "postgresql":
        # Array element types without collation: `text COLLATE "C"[]` is not a type.
        arrays = ", ".join(
            f"${index}::{column.type.compile(dialect=dialect).split(' COLLATE ')[0]}[]"
            for index, column in enumerate(columns, start=1)
        )
        sql = f"INSERT INTO {quote(table.name)} ({target}) SELECT * FROM unnest({arrays}) {conflict}"
        await connection.exec_driver_sql(sql, tuple(values(i, c.name) for i, c in enumerate(columns)))
    elif dialect.name == "sqlite":
        placeholders = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {quote(table.name)} ({target}) VALUES ({placeholders}) {conflict}"
        by_column = [values(i, c.name) for i, c in enumerate(columns)]
        await connection.exec_driver_sql(sql, list(zip(*by_column, strict=True)))
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database {dialect.name}")


async def rows_keyed_by(
    session: AsyncSession, table: Table, key: str, values: Sequence[Any], columns: Sequence[str]
) -> list[tuple[Any, ...]]:
    """`columns` (as Python values) of the rows of `table` whose `key` is one of `values`, in one statement.

    Each batch asks this of thousands of event uuids, of which a first attempt finds none. SQLAlchemy's expanding
    IN list renders and processes one bound parameter per value, which cost more than the lookup itself; here the
    values go as one parameter: a PostgreSQL array (= ANY), or a JSON array SQLite reads with json_each.
    """
    if not values:
        return []
    connection = await session.connection()
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    key_column = table.c[key]
    process = key_column.type.dialect_impl(dialect).bind_processor(dialect)
    bound = [process(value) for value in values] if process is not None else list(values)
    selected = [table.c[name] for name in columns]
    names = ", ".join(quote(column.name) for column in selected)
    if dialect.name == "postgresql":
        array_type = key_column.type.compile(dialect=dialect).split(" COLLATE ")[0]
        sql = f"SELECT {names} FROM {quote(table.name)} WHERE {quote(key)} = ANY($1::{array_type}[])"
        parameter: Any = bound
    elif dialect.name == "sqlite":
        sql = f"SELECT {names} FROM {quote(table.name)} WHERE {quote(key)} IN (SELECT value FROM json_each(?))"
        parameter = json.dumps(bound)
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database {dialect.name}")
    result = await connection.exec_driver_sql(sql, (parameter,))
    readers = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected]
    return [
        tuple(value if read is None or value is None else read(value) for read, value in zip(readers, row, strict=True))
        for row in result.all()
    ]
