"""The upload session: a resumable upload in progress."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, Column
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field

from clients.transfer.schemas import ArchiveFormat, TransferType
from servicekit.db import UTCDateTime
from services.transfer.db import TransferModel


class UploadSession(TransferModel, table=True):
    """A resumable upload; its bytes live in `<processing>/uploads/<uuid>.part`, whose length is the offset."""

    __tablename__ = "upload_session"

    uuid: UUID = Field(primary_key=True)
    name: str = Field(max_length=255)
    size: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    archive_format: ArchiveFormat | None = Field(
        default=None, sa_type=SAEnum(ArchiveFormat, native_enum=False, length=16)
    )
    filename: str | None = Field(default=None, max_length=1024)
    transfer_type: TransferType | None = Field(
        default=None, sa_type=SAEnum(TransferType, native_enum=False, length=32)
    )
    auto_approve: bool = Field(default=True)
    processing_config: str = Field(default="automated", max_length=100)
    transfer_uuid: UUID | None = Field(default=None)
    created_by: str = Field(max_length=150)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
