"""Jobs: one row per micro-service job of an ingest (a batch of files is one job), never one per file."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Column, ForeignKey, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field

from clients.ingest.schemas import JobStatus
from servicekit.db import UTCDateTime
from services.ingest.ingests.models import IngestBase


class Job(IngestBase, table=True):
    __tablename__ = "job"
    __table_args__ = (UniqueConstraint("ingest_uuid", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    ingest_uuid: UUID = Field(sa_column=Column(ForeignKey("ingest.uuid", ondelete="CASCADE"), nullable=False,
                                                    index=True))
    key: str = Field(max_length=100)
    name: str = Field(max_length=200)
    microservice: str = Field(max_length=200)
    status: JobStatus = Field(sa_type=SAEnum(JobStatus, native_enum=False, length=32))
    files_total: int | None = None
    files_done: int | None = None
    exit_code: int | None = None
    message: str | None = Field(default=None, max_length=8000)
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
