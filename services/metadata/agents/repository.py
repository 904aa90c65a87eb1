"""Every query on agents."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import Table, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.metadata.agents.models import Agent
from services.metadata.db import MetadataTable, insert_ignoring
from services.metadata.events import models as _events  # noqa: F401  (defines the event tables used below)

AgentKey = tuple[str, str]
agent_table: Table = MetadataTable.metadata.tables["agent"]
event_table: Table = MetadataTable.metadata.tables["event"]
link_table: Table = MetadataTable.metadata.tables["event_agent"]


async def ensure(session: AsyncSession, agents: Iterable[dict[str, Any]]) -> dict[AgentKey, int]:
    """The ids of these agents, recording those not seen before (the first name given for an identifier wins)."""
    unique: dict[AgentKey, dict[str, Any]] = {}
    for agent in agents:
        unique.setdefault((agent["identifier_type"], agent["identifier_value"]), agent)
    if not unique:
        return {}
    await insert_ignoring(session, agent_table, list(unique.values()), ["identifier_type", "identifier_value"])
    rows = await session.execute(
        select(agent_table.c.id, agent_table.c.identifier_type, agent_table.c.identifier_value).where(
            tuple_(agent_table.c.identifier_type, agent_table.c.identifier_value).in_(list(unique))
        )
    )
    return {(row.identifier_type, row.identifier_value): row.id for row in rows}


async def of_package(session: AsyncSession, package_uuid: UUID) -> dict[int, Agent]:
    """Every agent linked to any event of the package: a handful, whatever the package's size."""
    linked = (
        select(link_table.c.agent_id)
        .join(event_table, event_table.c.uuid == link_table.c.event_uuid)
        .where(event_table.c.package_uuid == package_uuid)
        .distinct()
    )
    result = await session.execute(select(Agent).where(agent_table.c.id.in_(linked)))
    return {agent.id: agent for agent in result.scalars() if agent.id is not None}
