"""Settings of the storage service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.roots import AllowedRoots
from servicekit.settings import ServiceSettings

ALLOWED_ROOTS_SETTING = "AMBER_STORAGE_ALLOWED_ROOTS"


def _default_aip_store_dir(data: dict[str, Any]) -> Path:
    return Path(data["data_dir"]) / "storage" / "aips"


def _default_dip_store_dir(data: dict[str, Any]) -> Path:
    return Path(data["data_dir"]) / "storage" / "dips"


def _default_backlog_dir(data: dict[str, Any]) -> Path:
    return Path(data["data_dir"]) / "storage" / "backlog"


def _default_transfer_source_dirs(data: dict[str, Any]) -> list[Path]:
    return [Path(data["data_dir"]) / "storage" / "transfer-source"]


def _default_allowed_roots(data: dict[str, Any]) -> list[Path]:
    return [Path(data["data_dir"])]


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
    dip_store_dir: Path = Field(
        default_factory=_default_dip_store_dir,
        description="Folder of the default DIP storage location; default <data_dir>/storage/dips.",
    )
    backlog_dir: Path = Field(
        default_factory=_default_backlog_dir,
        description="Folder of the default transfer backlog location; default <data_dir>/storage/backlog.",
    )
    allowed_roots: list[Path] = Field(
        default_factory=_default_allowed_roots,
        description="Folders inside which spaces and locations may lie (a JSON list in the environment, "
        f"{ALLOWED_ROOTS_SETTING}); a relative location path is taken from the first. The folders configured "
        "above are allowed too. Default [<data_dir>]. The transfer service reads the same variable.",
    )
    seven_zip: str = Field(default="7z", description="The 7-Zip executable (lists and extracts 7z packages).")
    fixity_audit_interval_seconds: float = Field(
        default=7 * 24 * 3600,
        description="Every this many seconds, every AIP storage and replicator location is audited; 0 disables "
        "the scheduled audits (audits can still be started through the API).",
    )
    max_parallel_checks: int = Field(
        default=2, ge=1, description="Fixity checks, replications and recoveries run at once (each reads a "
        "whole package)."
    )

    def location_roots(self) -> AllowedRoots:
        """Where locations may lie: the allowed roots, and the folders the operator configured by name.

        The data directory itself (keys, databases, the internal token) is never a location nor inside one.
        """
        configured = [self.aip_store_dir, self.dip_store_dir, self.backlog_dir, self.processing_dir,
                      *self.transfer_source_dirs]
        return AllowedRoots.of([*self.allowed_roots, *configured], ALLOWED_ROOTS_SETTING, guarded=[self.data_dir])
