"""The ingest record: one SIP on its way to becoming a stored AIP."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, BigInteger, Column, MetaData
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel

from clients.ingest.schemas import IngestStatus
from servicekit.db import UTCDateTime

metadata = MetaData()


class IngestBase(SQLModel):
    metadata = metadata


class Ingest(IngestBase, table=True):
    __tablename__ = "ingest"

    uuid: UUID = Field(primary_key=True)
    # Not unique: a retry is a new ingest of the same transfer (the latest one owns the kept transfer folder).
    transfer_uuid: UUID = Field(index=True)
    # The failed or cancelled ingest this one retries; at most one retry per ingest.
    retry_of: UUID | None = Field(default=None, unique=True)
    name: str = Field(max_length=255)
    path: str = Field(max_length=1024)
    status: IngestStatus = Field(
        default=IngestStatus.queued, index=True, sa_type=SAEnum(IngestStatus, native_enum=False, length=32)
    )
    current_job: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=8000)
    file_count: int | None = Field(default=None, sa_type=BigInteger)
    aip_path: str | None = Field(default=None, max_length=2048)
    aip_location_uuid: UUID | None = None
    aip_size: int | None = Field(default=None, sa_type=BigInteger)
    aip_sha256: str | None = Field(default=None, max_length=64)
    workflow_id: str = Field(max_length=100)
    processing_config: str = Field(default="automated", max_length=100)
    # The configuration's answers as they were when the ingest was created: later edits don't change a package
    # in flight, and the workflow's input stays a pure function of this row.
    config_fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    decision: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # What a person should know about how the ingest was processed (IngestWarning dicts); null: none.
    warnings: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Set when admission control gives the ingest a processing slot; until then it waits in line.
    admitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True))
    # Who asked to cancel (set with the request), and when the ingest actually stopped.
    cancelled_by: str | None = Field(default=None, max_length=150)
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # When the ingest reached its final status; the retention sweep counts from here.
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True))
    # The clean-up of what a failed, rejected or cancelled ingest left in the processing location.
    cleaned_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    cleaned_by: str | None = Field(default=None, max_length=150)
    cleaned_bytes: int | None = Field(default=None, sa_type=BigInteger)
    # The kept transfer folder was removed with it: the ingest can no longer be retried.
    transfer_removed: bool = Field(default=False)
    # The status the transfer service was last told (an outbox: the notifier sends until it matches `status`).
    transfer_notified: str | None = Field(default=None, max_length=32)
    created_by: str = Field(max_length=150)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
