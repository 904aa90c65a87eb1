"""Normalization outcomes: one row per original, purpose and attempt, written by the worker that did the work."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Column, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field

from servicekit.db import UTCDateTime
from services.ingest.ingests.models import IngestBase


class NormalizationOutcome(IngestBase, table=True):
    __tablename__ = "normalization_outcome"
    __table_args__ = (
        UniqueConstraint("ingest_uuid", "attempt", "path", "purpose"),
        Index("ix_normalization_outcome_ingest_attempt", "ingest_uuid", "attempt"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ingest_uuid: UUID = Field(sa_column=Column(ForeignKey("ingest.uuid", ondelete="CASCADE"), nullable=False))
    attempt: int
    path: str = Field(sa_column=Column(Text, nullable=False))
    file_uuid: UUID
    purpose: str = Field(max_length=32)
    rule_uuid: UUID | None = None
    command: str | None = Field(default=None, max_length=100)
    fallback: bool = False
    outcome: str = Field(max_length=32)
    output: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    output_uuid: UUID | None = None
    output_puid: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="", max_length=2000)
    duration_seconds: float = 0.0
    decision: str | None = Field(default=None, max_length=16)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
