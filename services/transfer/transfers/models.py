"""The transfer record: material received for preservation and where it was placed."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, Column, Text
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field

from clients.transfer.schemas import TransferSourceKind, TransferStatus, TransferType
from servicekit.db import UTCDateTime
from services.transfer.db import TransferModel


class Transfer(TransferModel, table=True):
    __tablename__ = "transfer"

    uuid: UUID = Field(primary_key=True)
    name: str = Field(max_length=255)
    source_kind: TransferSourceKind = Field(sa_type=SAEnum(TransferSourceKind, native_enum=False, length=32))
    source: str = Field(max_length=4096)
    status: TransferStatus = Field(
        default=TransferStatus.received, index=True, sa_type=SAEnum(TransferStatus, native_enum=False, length=32)
    )
    error: str | None = Field(default=None, sa_type=Text)
    transfer_type: TransferType | None = Field(
        default=None, sa_type=SAEnum(TransferType, native_enum=False, length=32)
    )
    step: str | None = Field(default=None, max_length=255)
    hidden: bool = Field(default=False, index=True)
    # Set while the transfer is being received, so a second transfer of the same name at once is refused by the
    # database itself (NULLs never collide in a unique index, on SQLite and PostgreSQL alike).
    active_name: str | None = Field(default=None, max_length=255, unique=True)
    # While `received`: the transfer-service process working on it and until when it has it. The process renews
    # the lease while it works; only a transfer whose lease ran out (its process died) is recovered by another.
    owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True))
    path: str = Field(max_length=1024, description="Relative to the currently-processing folder.")
    ingest_uuid: UUID | None = Field(default=None)
    # Checked against the ingest service when the transfer is created; handed to it with the transfer.
    processing_config: str = Field(default="automated", max_length=100)
    file_count: int = Field(default=0, sa_type=BigInteger)
    size: int = Field(default=0, sa_type=BigInteger)
    created_by: str = Field(max_length=150)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

