"""The package table: one row per stored package (AIP now; DIPs and transfers later)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field

from clients.storage.schemas import PackageStatus, PackageType
from servicekit.db import UTCDateTime, utcnow
from services.storage.db import StorageModel


class Package(StorageModel, table=True):
    __tablename__ = "storage_packages"

    uuid: UUID = Field(primary_key=True)
    name: str = Field(max_length=255)
    package_type: PackageType = Field(index=True, sa_type=SAEnum(PackageType, native_enum=False, length=16))
    status: PackageStatus = Field(index=True, sa_type=SAEnum(PackageStatus, native_enum=False, length=32))
    location_uuid: UUID = Field(foreign_key="storage_locations.uuid", index=True)
    current_path: str = Field(max_length=4096, description="Relative to the location.")
    size: int | None = Field(default=None, sa_type=BigInteger)
    sha256: str | None = Field(default=None, max_length=64)
    origin: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    stored_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    uncompressed: bool = Field(default=False)
    replica_of: UUID | None = Field(default=None, foreign_key="storage_packages.uuid", index=True)
    related_package_uuid: UUID | None = Field(default=None, index=True)
    fixity_checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fixity_ok: bool | None = Field(default=None)
    pointer_path: str | None = Field(default=None, max_length=4096, description="Relative to the location.")
