"""Every query on packages."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.metadata.db import MetadataTable, insert_ignoring
from services.metadata.packages.models import AipPackage, Package

package_table: Table = MetadataTable.metadata.tables["package"]


async def get(session: AsyncSession, package_uuid: UUID) -> Package | None:
    return await session.get(Package, package_uuid)


async def insert_if_absent(session: AsyncSession, values: dict[str, Any]) -> None:
    """Create the package unless a concurrent call just did."""
    await insert_ignoring(session, package_table, [values], ["uuid"])


async def aip(session: AsyncSession, package_uuid: UUID) -> AipPackage | None:
    return await session.get(AipPackage, package_uuid)


async def save_aip(session: AsyncSession, values: dict[str, Any]) -> AipPackage:
    """Record (or replace: a re-stored AIP has new bytes) the package's stored AIP file."""
    current = await session.get(AipPackage, values["package_uuid"])
    if current is None:
        current = AipPackage(**values)
        session.add(current)
    else:
        for key, value in values.items():
            setattr(current, key, value)
    await session.flush()
    return current
