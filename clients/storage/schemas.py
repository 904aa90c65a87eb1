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
    """Life cycle of a stored package: pending -> stored -> verified / failed / deletion_requested -> deleted.

    `verified` is a stored package whose last fixity check passed; `failed` a store that did not complete or a
    package whose last fixity check failed.
    """

    pending = "pending"
    stored = "stored"
    verified = "verified"
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
    size: int | None = Field(default=None, description="Size in bytes; for a folder, of all the files inside it.")
    file_count: int | None = Field(default=None, description="For a folder: the files inside it, at any depth.")
    complete: bool = Field(default=True, description="False when a very large folder was only partly counted.")


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
        description="Path of the package inside its location: the UUID quad folders, then `<name>-<uuid>.<ext>` "
        "(or the folder `<name>-<uuid>` of an uncompressed package)."
    )
    size: int | None = Field(description="Size in bytes.")
    sha256: str | None = Field(
        description="SHA-256 of the package file, lowercase hex; for an uncompressed package, of its bag's payload "
        "manifest (which pins every payload file)."
    )
    origin: str | None = Field(description="Who or what stored the package (e.g. the ingest that produced it).")
    created_at: datetime
    stored_at: datetime | None
    uncompressed: bool = Field(
        default=False, description="An uncompressed AIP: `current_path` is a folder holding the bag."
    )
    replica_of: UUID | None = Field(default=None, description="For a replica, the package it copies.")
    related_package_uuid: UUID | None = Field(default=None, description="For a DIP, the AIP it was made from.")
    fixity_checked_at: datetime | None = Field(default=None, description="When fixity was last checked.")
    pointer_path: str | None = Field(
        default=None, description="Path of a compressed AIP's pointer file (`pointer.<uuid>.xml`, beside the package) "
        "inside its location; none for an uncompressed AIP, as in Archivematica.",
    )
    fixity_ok: bool | None = Field(default=None, description="Outcome of the last fixity check.")


class LocationCreate(BaseModel):
    purpose: LocationPurpose
    path: str = Field(
        min_length=1, max_length=4096,
        description="Folder inside the roots the operator allows (AMBER_STORAGE_ALLOWED_ROOTS, default the data "
        "directory), links resolved; a relative path is taken from the first root. Created when missing.",
    )
    description: str = Field(default="", max_length=1024)
    # Capped at the databases' bigint (servicekit.pagination.SQL_INT_MAX), or storing it overflows.
    quota: int | None = Field(default=None, ge=0, le=2**63 - 1, description="Maximum bytes; null means unlimited.")
    is_default: bool = Field(default=False, description="Make it the default location of its purpose.")


class FileDigestProblem(BaseModel):
    path: str = Field(description="Path inside the bag, e.g. `data/objects/a.txt`.")
    algorithm: str = Field(description="The manifest's algorithm, e.g. sha256.")
    expected: str | None = Field(description="Digest the manifest records; null for an untracked file.")
    actual: str | None = Field(description="Digest of the stored file; null for a missing file.")


class FixityReport(BaseModel):
    package_uuid: UUID
    location_uuid: UUID
    success: bool
    checked_at: datetime
    package_sha256_expected: str | None = Field(description="SHA-256 recorded for the package file.")
    package_sha256_actual: str | None = Field(description="SHA-256 of the package file now (null for folders).")
    files_checked: int = Field(description="Files read from the stored bag.")
    missing: list[FileDigestProblem] = Field(description="In a manifest, absent from the bag.")
    changed: list[FileDigestProblem] = Field(description="Present, with a digest other than the manifest's.")
    untracked: list[FileDigestProblem] = Field(description="Payload files no manifest lists.")
    errors: list[str] = Field(description="Anything else wrong: unreadable archive, no bagit.txt, …")
    event_uuid: UUID | None = Field(description="The PREMIS `fixity check` event, when it could be recorded.")


class AuditStatus(StrEnum):
    running = "running"
    finished = "finished"
    failed = "failed"


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uuid: UUID
    location_uuid: UUID
    status: AuditStatus
    started_at: datetime
    finished_at: datetime | None
    checked: int = Field(description="Packages checked so far.")
    failed: int = Field(description="Packages whose check failed.")
    failed_packages: list[UUID] = Field(default_factory=list)


class DeletionRequestStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class DeletionRequestCreate(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class DeletionDecision(BaseModel):
    note: str = Field(default="", max_length=4000)


class DeletionRequestRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uuid: UUID
    package_uuid: UUID
    reason: str
    requested_by: str
    requested_at: datetime
    status: DeletionRequestStatus
    decided_by: str | None
    decided_at: datetime | None
    note: str


class RecoveryRead(BaseModel):
    package: PackageRead
    replica_uuid: UUID = Field(description="The replica the package was restored from.")
    before: FixityReport = Field(description="The failed check that made recovery necessary.")
    after: FixityReport = Field(description="The check of the recovered package.")


class AipMoveIn(BaseModel):
    """An AIP file already on the storage service's machine, inside a currently-processing location."""

    name: str = Field(min_length=1, max_length=200)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    source_path: str = Field(min_length=1, max_length=4096, description="Absolute path of the package file.")
    extension: str = Field(default="7z", max_length=16)
    location_uuid: UUID | None = Field(default=None, description="AIP storage location; default: the default one")
    origin: str | None = Field(default=None, max_length=255)
