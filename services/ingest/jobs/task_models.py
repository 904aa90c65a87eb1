"""Tasks: one row per file per job, written in bulk by the batch that did the work."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Column, ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field

from clients.ingest.schemas import TaskStatus
from servicekit.db import UTCDateTime
from services.ingest.ingests.models import IngestBase


class Task(IngestBase, table=True):
    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint("job_id", "path"),
        Index("ix_task_ingest_status", "ingest_uuid", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(sa_column=Column(ForeignKey("job.id", ondelete="CASCADE"), nullable=False))
    ingest_uuid: UUID = Field(sa_column=Column(ForeignKey("ingest.uuid", ondelete="CASCADE"), nullable=False))
    path: str = Field(sa_column=Column(Text, nullable=False))
    file_uuid: UUID | None = None
    status: TaskStatus = Field(sa_type=SAEnum(TaskStatus, native_enum=False, length=32))
    exit_code: int = 0
    message: str = Field(default="", max_length=2000)
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
