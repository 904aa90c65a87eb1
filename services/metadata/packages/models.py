"""The package table."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, Text
from sqlmodel import Field

from servicekit.db import UTCDateTime
from services.metadata.db import MetadataTable


class Package(MetadataTable, table=True):
    __tablename__ = "package"

    uuid: UUID = Field(primary_key=True)
    name: str = Field(max_length=255)
    transfer_uuid: UUID | None = Field(default=None)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class AipPackage(MetadataTable, table=True):
    """The stored AIP file of a package (size, fixity, compression): what its pointer file describes."""

    __tablename__ = "aip_package"

    package_uuid: UUID = Field(foreign_key="package.uuid", primary_key=True)
    size: int = Field(sa_type=BigInteger, nullable=False)
    checksum_type: str = Field(max_length=32)
    checksum: str = Field(max_length=128)
    compression: str = Field(max_length=32)
    program: str = Field(max_length=255)
    program_version: str = Field(max_length=255)
    path: str = Field(sa_type=Text, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
