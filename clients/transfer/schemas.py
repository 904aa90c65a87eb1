"""Wire schemas of the transfer (intake) service."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class TransferSourceKind(StrEnum):
    location = "location"
    upload = "upload"


class TransferStatus(StrEnum):
    """`received` while the material is being placed, `ingesting` once the ingest service has it."""

    received = "received"
    ingesting = "ingesting"
    failed = "failed"


class ArchiveFormat(StrEnum):
    zip = "zip"
    tar = "tar"
    tar_gz = "tar.gz"


# Names end up in METS/PREMIS XML and in folder names: no control characters.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"


class TransferFromLocation(BaseModel):
    name: str = Field(
        min_length=1, max_length=255, pattern=NAME_PATTERN, description="Transfer name; the AIP is named after it."
    )
    location_uuid: UUID = Field(description="A storage location whose purpose is `transfer_source`.")
    path: str = Field(
        min_length=1, max_length=4096,
        description="Folder (or single file) to transfer, relative to the location's root.",
    )


class TransferRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uuid: UUID
    name: str
    source_kind: TransferSourceKind
    source: str = Field(
        description="`<location uuid>:<relative path>` for a location transfer, the uploaded file's name for an upload."
    )
    status: TransferStatus
    error: str | None = Field(description="Why the transfer failed.")
    path: str = Field(description="The transfer's folder, relative to the currently-processing folder.")
    ingest_uuid: UUID | None = Field(description="The ingest processing this transfer, once handed over.")
    file_count: int = Field(description="Files placed (known once placement is done).")
    size: int = Field(description="Bytes placed (known once placement is done).")
    created_by: str
    created_at: datetime
    updated_at: datetime
