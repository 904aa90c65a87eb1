"""Settings of the metadata service."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


def installed_version() -> str:
    try:
        return version("amber")
    except PackageNotFoundError:
        return "0.0.0"


class MetadataSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AMBER_METADATA_", extra="ignore", populate_by_name=True)

    service_name: str = "metadata"
    port: int = 8003
    organization_name: str = Field(default="Amber", description="Name of the repository's PREMIS organization agent.")
    organization_code: str = Field(default="amber", description="The PREMIS `repository code` agent identifier.")
    software_name: str = Field(default="Amber", description="Name of the PREMIS `preservation system` agent.")
    software_version: str = Field(
        default_factory=installed_version, description="Version in the `preservation system` agent identifier."
    )
    max_xml_bytes: int = Field(
        default=2 * 1024**3, description="Largest XML document accepted for validation or import (bytes)."
    )
    index_batch: int = Field(default=5000, description="Files written to the search index per statement.")
