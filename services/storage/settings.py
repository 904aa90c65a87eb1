"""Settings of the storage service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


def _default_aip_store_dir(data: dict[str, Any]) -> Path:
    return Path(data["data_dir"]) / "storage" / "aips"


def _default_transfer_source_dirs(data: dict[str, Any]) -> list[Path]:
    return [Path(data["data_dir"]) / "storage" / "transfer-source"]


class StorageSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AMBER_STORAGE_", extra="ignore", populate_by_name=True)

    service_name: str = "storage"
    port: int = 8004
    # The defaults hang off data_dir (validated before these fields), so they follow AMBER_DATA_DIR.
    aip_store_dir: Path = Field(
        default_factory=_default_aip_store_dir,
        description="Folder of the default AIP storage location; default <data_dir>/storage/aips.",
    )
    transfer_source_dirs: list[Path] = Field(
        default_factory=_default_transfer_source_dirs,
        description="Folders offered as transfer sources (a JSON list in the environment); "
        "default [<data_dir>/storage/transfer-source].",
    )
