"""Wire schemas of the transfer (intake) service."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from clients.ingest.schemas import DEFAULT_PROCESSING_CONFIG, PROCESSING_CONFIG_NAME, IngestStatus


class TransferSourceKind(StrEnum):
    location = "location"
    upload = "upload"


class TransferStatus(StrEnum):
    """`received` while the material is being placed and checked, `awaiting_approval` once placed when it was not
    approved up front, `ingesting` once the ingest service has it; then it follows its ingest to the end: `stored`
    (the AIP is stored), `backlogged`, `cancelled`, `rejected` (by a person, at approval or in ingest), or `failed`
    (intake refused it, a step failed, or the ingest failed; see `error`). A retried ingest makes it `ingesting`
    again."""

    received = "received"
    awaiting_approval = "awaiting_approval"
    ingesting = "ingesting"
    stored = "stored"
    backlogged = "backlogged"
    cancelled = "cancelled"
    rejected = "rejected"
    failed = "failed"


# Intake is done with these: the record can be hidden or deleted.
FINISHED_STATUSES = frozenset({TransferStatus.ingesting, TransferStatus.stored, TransferStatus.backlogged,
                               TransferStatus.cancelled, TransferStatus.rejected, TransferStatus.failed})
# How a transfer's status follows its ingest's.
STATUS_OF_INGEST: dict[IngestStatus, TransferStatus] = {
    IngestStatus.queued: TransferStatus.ingesting,
    IngestStatus.processing: TransferStatus.ingesting,
    IngestStatus.awaiting_decision: TransferStatus.ingesting,
    IngestStatus.stored: TransferStatus.stored,
    IngestStatus.backlogged: TransferStatus.backlogged,
    IngestStatus.cancelled: TransferStatus.cancelled,
    IngestStatus.rejected: TransferStatus.rejected,
    IngestStatus.failed: TransferStatus.failed,
}


class IngestStatusReport(BaseModel):
    """The ingest service telling a transfer where its ingest stands (sent until it is received; idempotent)."""

    ingest_uuid: UUID
    status: IngestStatus
    retry_of: UUID | None = Field(default=None, description="Set for a retry: the ingest it takes over from.")
    error: str | None = Field(default=None, max_length=8000)


class ArchiveFormat(StrEnum):
    zip = "zip"
    tar = "tar"
    tar_gz = "tar.gz"
    seven_z = "7z"


# File name endings of every format intake accepts, longest first so ".tar.gz" wins over ".gz"; clients that
# choose a format from a file's name read it here, so a format intake gains is offered everywhere at once.
ARCHIVE_SUFFIXES: dict[str, ArchiveFormat] = {
    ".tar.gz": ArchiveFormat.tar_gz, ".tgz": ArchiveFormat.tar_gz, ".zip": ArchiveFormat.zip,
    ".tar": ArchiveFormat.tar, ".7z": ArchiveFormat.seven_z,
}


class TransferType(StrEnum):
    """Archivematica's transfer types; detected when not given (a bag has `bagit.txt`)."""

    standard = "standard"
    zipped_directory = "zipped_directory"
    unzipped_bag = "unzipped_bag"
    zipped_bag = "zipped_bag"


# Names end up in METS/PREMIS XML and in folder names: no control characters.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"
# One definition for every way a transfer is created, so the name rules cannot drift between them.
ProcessingConfigName = Annotated[str, Field(
    pattern=PROCESSING_CONFIG_NAME,
    description="The ingest service's processing configuration answering the decision points (`automated` "
    "answers all, `default` asks a person at several); an unknown name is refused (422).",
)]


class TransferFromLocation(BaseModel):
    name: str = Field(
        min_length=1, max_length=255, pattern=NAME_PATTERN, description="Transfer name; the AIP is named after it."
    )
    location_uuid: UUID = Field(description="A storage location whose purpose is `transfer_source`.")
    path: str = Field(
        min_length=1, max_length=4096,
        description="Folder (or single file) to transfer, relative to the location's root.",
    )
    transfer_type: TransferType | None = Field(default=None, description="Detected when absent.")
    auto_approve: bool = Field(
        default=True, description="Hand the transfer to ingest at once; otherwise it waits in `awaiting_approval`."
    )
    processing_config: ProcessingConfigName = DEFAULT_PROCESSING_CONFIG


class TransferRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uuid: UUID
    name: str
    source_kind: TransferSourceKind
    source: str = Field(
        description="`<location uuid>:<relative path>` for a location transfer, the uploaded file's name for an upload."
    )
    status: TransferStatus
    transfer_type: TransferType | None = Field(default=None, description="Known once the material was placed.")
    step: str | None = Field(default=None, description="The intake step running now, or the one that failed.")
    error: str | None = Field(description="Why the transfer failed.")
    hidden: bool = Field(default=False, description="Hidden transfers are left out of lists unless asked for.")
    path: str = Field(description="The transfer's folder, relative to the currently-processing folder.")
    ingest_uuid: UUID | None = Field(description="The ingest processing this transfer, once handed over.")
    file_count: int = Field(description="Files placed (known once placement is done).")
    size: int = Field(description="Bytes placed (known once placement is done).")
    processing_config: str = Field(description="The processing configuration handed to ingest.")
    created_by: str
    created_at: datetime
    updated_at: datetime


class TransferUpdate(BaseModel):
    hidden: bool | None = Field(default=None, description="Hide a finished transfer from lists (or show it again).")


class TransferDecision(BaseModel):
    reason: str | None = Field(default=None, max_length=4000, description="Why (recorded with a rejection).")


class UploadSessionCreate(BaseModel):
    """A resumable upload: the archive is sent in chunks (PUT with Content-Range), then completed."""

    name: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN, description="Transfer name")
    size: int = Field(ge=1, description="The archive's size in bytes.")
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="The archive's SHA-256, checked on completion.")
    archive_format: ArchiveFormat | None = Field(default=None, description="Detected from the first bytes if absent.")
    filename: str | None = Field(default=None, max_length=1024, pattern=NAME_PATTERN)
    transfer_type: TransferType | None = None
    auto_approve: bool = True
    processing_config: ProcessingConfigName = DEFAULT_PROCESSING_CONFIG


class UploadSessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uuid: UUID
    name: str
    size: int
    sha256: str
    archive_format: ArchiveFormat | None
    filename: str | None
    transfer_type: TransferType | None
    auto_approve: bool
    processing_config: str
    offset: int = Field(description="Bytes received so far; the next chunk starts here.")
    transfer_uuid: UUID | None = Field(description="The transfer made from the upload, once completed.")
    created_by: str
    created_at: datetime
    updated_at: datetime
