"""The PREMIS agent table."""

from __future__ import annotations

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from services.metadata.db import MetadataTable


class Agent(MetadataTable, table=True):
    __tablename__ = "agent"
    __table_args__ = (
        UniqueConstraint("identifier_type", "identifier_value", name="uq_agent_identifier"),
    )

    id: int | None = Field(default=None, primary_key=True)
    identifier_type: str = Field(max_length=255)
    identifier_value: str = Field(max_length=255)
    name: str = Field(max_length=1024)
    agent_type: str = Field(max_length=255)
