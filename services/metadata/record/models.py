"""Tables of the path-keyed record: what the transfer journal says about the package, its directories and files."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field

from services.metadata.db import MetadataTable, PathText


class DescriptiveMetadata(MetadataTable, table=True):
    """Dublin Core or custom metadata of one path (`objects` is the package), elements as JSON."""

    __tablename__ = "descriptive_metadata"
    __table_args__ = (UniqueConstraint("package_uuid", "path", "kind", name="uq_descriptive_path_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    package_uuid: UUID = Field(foreign_key="package.uuid", nullable=False)
    path: str = Field(sa_type=PathText, nullable=False)
    kind: str = Field(max_length=32)
    elements: str = Field(sa_type=Text, nullable=False)


class RightsStatement(MetadataTable, table=True):
    """A PREMIS rights statement about a path; its uuid is derived from the package, path and content."""

    __tablename__ = "rights_statement"

    uuid: UUID = Field(primary_key=True)
    package_uuid: UUID = Field(foreign_key="package.uuid", nullable=False, index=True)
    path: str = Field(sa_type=PathText, nullable=False)
    basis: str = Field(max_length=32)
    statement: str = Field(sa_type=Text, nullable=False)


class Directory(MetadataTable, table=True):
    """A directory of the package: an intellectual entity, and if `empty` one the AIP keeps only in its METS."""

    __tablename__ = "directory"
    __table_args__ = (UniqueConstraint("package_uuid", "path", name="uq_directory_package_path"),)

    uuid: UUID = Field(primary_key=True)
    package_uuid: UUID = Field(foreign_key="package.uuid", nullable=False)
    path: str = Field(sa_type=PathText, nullable=False)
    empty: bool = Field(default=False)


class Identifier(MetadataTable, table=True):
    """An identifier (from metadata/identifiers.json) of the package, a directory or a file."""

    __tablename__ = "identifier"
    __table_args__ = (
        UniqueConstraint("package_uuid", "path", "type", "value", name="uq_identifier"),
    )

    id: int | None = Field(default=None, primary_key=True)
    package_uuid: UUID = Field(foreign_key="package.uuid", nullable=False)
    path: str = Field(sa_type=PathText, nullable=False)
    type: str = Field(max_length=255)
    value: str = Field(sa_type=Text, nullable=False)


class StructMap(MetadataTable, table=True):
    """A custom structMap document supplied with the transfer (metadata/mets_structmap.xml), kept as sent."""

    __tablename__ = "custom_structmap"
    __table_args__ = (UniqueConstraint("package_uuid", "ordinal", name="uq_structmap_ordinal"),)

    id: int | None = Field(default=None, primary_key=True)
    package_uuid: UUID = Field(foreign_key="package.uuid", nullable=False)
    ordinal: int
    label: str | None = Field(default=None, max_length=255)
    digest: str = Field(max_length=64)
    xml: str = Field(sa_type=Text, nullable=False)
