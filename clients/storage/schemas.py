"""Wire schemas of the storage service."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class LocationPurpose(StrEnum):
    """What a location is for (the Storage Service purposes TS, AS, DS, BL, CP, RP, AR)."""

    transfer_source = "transfer_source"
    aip_storage = "aip_storage"
    dip_storage = "dip_storage"
    backlog = "backlog"
    currently_processing = "currently_processing"
    replicator = "replicator"
    aip_recovery = "aip_recovery"


class PackageType(StrEnum):
    aip = "aip"
    dip = "dip"
    transfer = "transfer"


class PackageStatus(StrEnum):
    """Life cycle of a stored package; deletion and fixity states are added by later features."""

    pending = "pending"
    stored = "stored"
    failed = "failed"
    deletion_requested = "deletion_requested"
    deleted = "deleted"


class BrowseEntryType(StrEnum):
    dir = "dir"
    file = "file"


class LocationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uuid: UUID
    space_uuid: UUID = Field(description="The space (storage backend) the location lives in.")
    purpose: LocationPurpose
    path: str = Field(description="Absolute path of the location inside its space.")
    description: str
    is_default: bool = Field(description="The location used for this purpose when none is named.")
    quota: int | None = Field(description="Maximum bytes the location may hold; null means unlimited.")
    used: int = Field(description="Bytes of the packages stored in the location.")
    created_at: datetime


class BrowseEntry(BaseModel):
    name: str
    type: BrowseEntryType
    size: int | None = Field(default=None, description="Size in bytes (files only).")


class LocationBrowse(BaseModel):
    location_uuid: UUID
    path: str = Field(description="The folder listed, relative to the location ('' is its root).")
    entries: list[BrowseEntry] = Field(description="Folders and files, sorted by name.")


class PackageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uuid: UUID = Field(description="The package UUID (for an AIP, the AIP/SIP UUID).")
    name: str
    package_type: PackageType
    status: PackageStatus
    location_uuid: UUID
    current_path: str = Field(
        description="Path of the package inside its location: the UUID quad folders, then `<name>-<uuid>.<ext>`."
    )
    size: int | None = Field(description="Size in bytes.")
    sha256: str | None = Field(description="SHA-256 of the package file, lowercase hex.")
    origin: str | None = Field(description="Who or what stored the package (e.g. the ingest that produced it).")
    created_at: datetime
    stored_at: datetime | None
