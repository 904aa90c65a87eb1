"""The deletion request table."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Enum as SAEnum
from sqlmodel import Field

from clients.storage.schemas import DeletionRequestStatus
from servicekit.db import UTCDateTime, utcnow
from servicekit.ids import new_id
from services.storage.db import StorageModel


class DeletionRequest(StorageModel, table=True):
    __tablename__ = "storage_deletion_requests"

    uuid: UUID = Field(default_factory=new_id, primary_key=True)
    package_uuid: UUID = Field(foreign_key="storage_packages.uuid", index=True)
    reason: str = Field(max_length=4000)
    requested_by: str = Field(max_length=255)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    status: DeletionRequestStatus = Field(
        index=True, sa_type=SAEnum(DeletionRequestStatus, native_enum=False, length=16)
    )
    decided_by: str | None = Field(default=None, max_length=255)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str = Field(default="", max_length=4000)
