"""Settings of the transfer (intake) service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from servicekit.roots import AllowedRoots
from servicekit.settings import ServiceSettings

TIB = 1 << 40
ALLOWED_ROOTS_SETTING = "AMBER_STORAGE_ALLOWED_ROOTS"


def _default_allowed_roots(data: dict[str, Any]) -> list[Path]:
    return [Path(data["data_dir"])]


def _default_transfer_source_dirs(data: dict[str, Any]) -> list[Path]:
    return [Path(data["data_dir"]) / "storage" / "transfer-source"]


class TransferSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AMBER_TRANSFER_", extra="ignore", populate_by_name=True)

    service_name: str = "transfer"
    port: int = 8001
    max_upload_bytes: int = Field(default=TIB, ge=1, description="Largest upload accepted (413 beyond).")
    max_expanded_bytes: int = Field(default=2 * TIB, ge=1, description="Largest total an archive may expand to.")
    max_entries: int = Field(default=2_000_000, ge=1, description="Most entries (files and folders) in an archive.")
    max_ratio: float = Field(
        default=200, gt=0, description="Most an archive may expand relative to its size (decompression-bomb guard)."
    )
    max_transfer_bytes: int = Field(
        default=2 * TIB, ge=1, description="Quota: the most bytes one transfer may place (422 beyond)."
    )
    # Intake copies from transfer-source locations itself, so it checks their folders against the same roots as
    # the storage service: both read the storage service's variables, and one environment configures both.
    allowed_roots: list[Path] = Field(
        default_factory=_default_allowed_roots,
        validation_alias=AliasChoices("allowed_roots", "AMBER_TRANSFER_ALLOWED_ROOTS", ALLOWED_ROOTS_SETTING),
        description="Folders inside which transfer-source locations may lie (a JSON list); default [<data_dir>]. "
        f"Read from {ALLOWED_ROOTS_SETTING} like the storage service's, or AMBER_TRANSFER_ALLOWED_ROOTS.",
    )
    transfer_source_dirs: list[Path] = Field(
        default_factory=_default_transfer_source_dirs,
        validation_alias=AliasChoices("transfer_source_dirs", "AMBER_STORAGE_TRANSFER_SOURCE_DIRS"),
        description="The storage service's configured transfer sources (AMBER_STORAGE_TRANSFER_SOURCE_DIRS), "
        "allowed like the roots.",
    )
    remove_hidden_files: bool = Field(
        default=False,
        description="Remove hidden files and folders (names starting with '.') at intake, recording each removal; "
        "by default they are kept.",
    )
    lease_seconds: float = Field(
        default=60, gt=0, description="How long a transfer being received stays this process's without a renewal; "
        "a transfer whose lease ran out (its process died) is recovered by any transfer-service process.",
    )

    def location_roots(self) -> AllowedRoots:
        """Where the folder of a transfer-source location may lie; never the data directory itself."""
        return AllowedRoots.of([*self.allowed_roots, *self.transfer_source_dirs], ALLOWED_ROOTS_SETTING,
                               guarded=[self.data_dir])
