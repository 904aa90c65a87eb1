"""The location table: a folder with a purpose inside a space."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field

from clients.storage.schemas import LocationPurpose
from servicekit.db import UTCDateTime, utcnow
from servicekit.ids import new_id
from services.storage.db import StorageModel


class Location(StorageModel, table=True):
    __tablename__ = "storage_locations"
    __table_args__ = (UniqueConstraint("purpose", "path", name="uq_storage_locations_purpose_path"),)

    uuid: UUID = Field(default_factory=new_id, primary_key=True)
    space_uuid: UUID = Field(foreign_key="storage_spaces.uuid", index=True)
    purpose: LocationPurpose = Field(
        index=True, sa_type=SAEnum(LocationPurpose, native_enum=False, length=32)
    )
    path: str = Field(max_length=4096, description="Absolute path inside the space.")
    description: str = Field(default="", max_length=1024)
    is_default: bool = Field(default=False)
    quota: int | None = Field(default=None, sa_type=BigInteger)
    used: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class LocationReplicator(StorageModel, table=True):
    """A replicator location attached to an AIP storage location: every AIP stored there is copied to it."""

    __tablename__ = "storage_location_replicators"

    location_uuid: UUID = Field(foreign_key="storage_locations.uuid", primary_key=True)
    replicator_uuid: UUID = Field(foreign_key="storage_locations.uuid", primary_key=True)
