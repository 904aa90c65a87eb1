"""Settings of the transfer (intake) service."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

TIB = 1 << 40


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
    remove_hidden_files: bool = Field(
        default=False,
        description="Remove hidden files and folders (names starting with '.') at intake, recording each removal; "
        "by default they are kept.",
    )
    lease_seconds: float = Field(
        default=60, gt=0, description="How long a transfer being received stays this process's without a renewal; "
        "a transfer whose lease ran out (its process died) is recovered by any transfer-service process.",
    )
