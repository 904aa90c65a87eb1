"""The PREMIS file object table."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, Integer, Text, UniqueConstraint
from sqlmodel import Field

from servicekit.db import UTCDateTime
from services.metadata.db import MetadataTable, PathText


class File(MetadataTable, table=True):
    __tablename__ = "file"
    # The unique index leads with package_uuid, so it also serves every per-package lookup and the
    # path-ordered keyset scans of METS writing; a separate package_uuid index would only slow inserts.
    __table_args__ = (UniqueConstraint("package_uuid", "path", name="uq_file_package_path"),)

    uuid: UUID = Field(primary_key=True)
    package_uuid: UUID = Field(foreign_key="package.uuid", nullable=False)
    path: str = Field(sa_type=PathText, nullable=False)
    original_name: str = Field(sa_type=Text, nullable=False)
    size: int = Field(sa_type=BigInteger, nullable=False)
    checksum_type: str = Field(max_length=32)
    checksum: str = Field(max_length=128)
    format_name: str = Field(max_length=255)
    format_version: str | None = Field(default=None, max_length=255)
    puid: str | None = Field(default=None, max_length=64)
    format_basis: str | None = Field(default=None, sa_type=Text)
    modified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    use: str = Field(default="original", max_length=64)
    creating_application: str | None = Field(default=None, max_length=255)
    creating_application_version: str | None = Field(default=None, max_length=255)
    # JSON list of PREMIS relationships; read back only whole, with the file.
    relationships: str | None = Field(default=None, sa_type=Text)


class FileCharacteristics(MetadataTable, table=True):
    """A characterization tool's XML output about a file (CharacteristicsRecord), in the order it was sent.

    Keyed by (file, ordinal) so that a retried batch inserts nothing twice; read only while writing a METS.
    """

    __tablename__ = "file_characteristics"

    file_uuid: UUID = Field(foreign_key="file.uuid", primary_key=True)
    ordinal: int = Field(sa_type=Integer, primary_key=True)
    tool: str = Field(max_length=255)
    version: str = Field(max_length=255)
    xml: str = Field(sa_type=Text, nullable=False)
    truncated: bool = Field(default=False)
