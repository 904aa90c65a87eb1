"""The format policy registry's tables: formats, tools, commands, rules, and the version of the shipped defaults.

Natural keys (PUID, tool and command names) keep exports readable and imports idempotent; rules have a UUID
(derived from purpose, PUID and command for shipped ones, so every installation names them alike).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field

from servicekit.db import UTCDateTime
from services.ingest.ingests.models import IngestBase


class ShippedColumns(IngestBase):
    shipped_version: int | None = Field(default=None)
    modified: bool = False


class FprFormat(ShippedColumns, table=True):
    __tablename__ = "fpr_format"

    puid: str = Field(primary_key=True, max_length=60)
    name: str = Field(max_length=255)
    version: str = Field(default="", max_length=100)
    mime: str = Field(default="", max_length=255)
    group: str = Field(max_length=40, index=True)


class FprTool(ShippedColumns, table=True):
    __tablename__ = "fpr_tool"

    name: str = Field(primary_key=True, max_length=100)
    description: str = Field(default="", max_length=1000)
    version_argv: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version_pattern: str = Field(default="", max_length=500)
    version: str | None = Field(default=None, max_length=100)


class FprCommand(ShippedColumns, table=True):
    __tablename__ = "fpr_command"

    name: str = Field(primary_key=True, max_length=100)
    tool: str = Field(sa_column=Column(String(100), ForeignKey("fpr_tool.name"), nullable=False, index=True))
    description: str = Field(default="", max_length=1000)
    argv: list[str] = Field(sa_column=Column(JSON, nullable=False))
    output_extension: str | None = Field(default=None, max_length=20)
    output_puids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    stdout_is_output: bool = False
    verifier: str | None = Field(default=None, max_length=100)
    event_detail: str = Field(max_length=1000)
    timeout_seconds: float
    max_output_bytes: int = Field(sa_type=BigInteger)
    verdict: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class FprRule(ShippedColumns, table=True):
    __tablename__ = "fpr_rule"
    __table_args__ = (
        UniqueConstraint("purpose", "puid", "command", name="uq_fpr_rule_purpose_puid_command"),
        Index("ix_fpr_rule_puid_purpose", "puid", "purpose"),
    )

    uuid: UUID = Field(primary_key=True)
    purpose: str = Field(max_length=40)
    puid: str = Field(sa_column=Column(String(60), ForeignKey("fpr_format.puid"), nullable=False))
    command: str = Field(sa_column=Column(String(100), ForeignKey("fpr_command.name"), nullable=False, index=True))
    enabled: bool = True
    priority: int = Field(default=100, sa_column_kwargs={"server_default": "100"})
    successes: int = Field(default=0, sa_type=BigInteger)
    failures: int = Field(default=0, sa_type=BigInteger)
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class FprState(IngestBase, table=True):
    """One row: the version of Amber's shipped defaults this database has taken in."""

    __tablename__ = "fpr_state"

    id: int = Field(default=1, primary_key=True)
    shipped_version: int = 0
