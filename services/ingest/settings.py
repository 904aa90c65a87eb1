"""Settings of the ingest service and of its workers."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class AipHandover(StrEnum):
    auto = "auto"  # move when storage shares the filesystem, else upload
    move = "move"
    upload = "upload"


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AMBER_INGEST_", extra="ignore", populate_by_name=True)

    service_name: str = "ingest"
    port: int = 8002
    temporal_address: str = Field(
        default="127.0.0.1:7233",
        validation_alias=AliasChoices("temporal_address", "AMBER_TEMPORAL_ADDRESS"),
        description="host:port of the Temporal frontend (the embedded dev server, or any cluster).",
    )
    temporal_namespace: str = Field(
        default="default", validation_alias=AliasChoices("temporal_namespace", "AMBER_TEMPORAL_NAMESPACE")
    )
    task_queue: str = "amber-ingest"
    batch_size: int = Field(default=500, ge=1, le=5000, description="Files per activity.")
    max_concurrent_batches: int = Field(default=4, ge=1, description="Batches of one package in flight at once.")
    worker_max_activities: int = Field(default=8, ge=1, description="Activities one worker runs at once.")
    worker_file_threads: int = Field(
        default=0, ge=0, description="Threads of one worker examining files (checksum, scan, identification, "
        "validation, characterization) across all its batches; 0: twice the CPUs, at least 4. Most of a file's "
        "time is spent waiting for a tool, so more threads than cores keep the cores busy.",
    )
    worker_metrics_host: str = Field(default="127.0.0.1", description="Where a worker serves its /metrics.")
    worker_metrics_port: int = Field(
        default=8010, ge=0, le=65535,
        description="The port of a worker's /metrics (0: any free one, logged). `amber up` gives its workers "
        "AMBER_WORKER_METRICS_PORT and the ports after it. Off with AMBER_METRICS_ENABLED=false.",
    )
    heartbeat_timeout_seconds: int = Field(
        default=20, ge=2, description="A worker silent this long is presumed dead; its activity moves on."
    )
    max_active_ingests: int = Field(
        default=2, ge=1, description="Packages processed at once; the rest wait in line (admission control)."
    )
    decision_timeout_seconds: float = Field(
        default=30, gt=0, description="How long an answer to a decision waits for the workflow to accept it before "
        "it is refused as 503 (and not recorded).",
    )
    admission_interval_seconds: float = Field(default=1.0, gt=0, description="How often waiting ingests are admitted.")
    aip_handover: AipHandover = Field(
        default=AipHandover.auto, description="How finished AIPs reach storage: moved in on a shared filesystem, "
        "uploaded over HTTP, or `auto` (move when storage can reach the file, else upload).",
    )
    clamav_database_dir: Path = Field(
        default=Path("/var/lib/clamav"),
        description="ClamAV signatures for the clamd each worker starts; with none there, files are recorded as "
        "not scanned (never as clean).",
    )
    clamd_socket: Path | None = Field(
        default=None, description="Use this running clamd instead of starting one per worker."
    )
    clamav_max_file_size_mb: int = Field(
        default=2000, ge=1, le=2000, description="Files over this size are recorded as not scanned."
    )
    clamd_threads: int = Field(default=4, ge=1, le=64)
    max_extraction_depth: int = Field(
        default=5, ge=0, le=50, description="Packages inside extracted packages are opened down to this depth."
    )
    max_extracted_bytes_gb: float = Field(default=100.0, gt=0, description="Refuse a package expanding beyond this.")
    max_extracted_entries: int = Field(default=200_000, ge=1, description="Refuse a package with more entries.")
    retention_hours: float | None = Field(
        default=None, gt=0, description="Remove what failed, rejected and cancelled ingests left in the processing "
        "location this many hours after they ended (unset: kept until `POST /ingests/{id}/clean-up`).",
    )
    retention_interval_seconds: float = Field(default=600.0, gt=0, description="How often retention looks.")
    notify_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often the transfer service is told of ingests' new statuses."
    )
    organization_name: str = "Amber"
    organization_code: str = "amber"
    seven_zip: str = "7z"
