"""The audit table: one row per audit of a location."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import JSON
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field

from clients.storage.schemas import AuditStatus
from servicekit.db import UTCDateTime, utcnow
from servicekit.ids import new_id
from services.storage.db import StorageModel


class Audit(StorageModel, table=True):
    __tablename__ = "storage_audits"

    uuid: UUID = Field(default_factory=new_id, primary_key=True)
    location_uuid: UUID = Field(foreign_key="storage_locations.uuid", index=True)
    status: AuditStatus = Field(sa_type=SAEnum(AuditStatus, native_enum=False, length=16))
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    checked: int = Field(default=0)
    failed: int = Field(default=0)
    failed_packages: list[str] = Field(default_factory=list, sa_type=JSON)
