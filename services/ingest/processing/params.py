"""The values that cross between the ingest workflow and its activities (kept small: paths and counts)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IngestParams:
    ingest_uuid: str
    transfer_uuid: str
    name: str
    transfer_path: str  # relative to the currently-processing folder
    created_by: str
    batch_size: int = 500
    max_concurrent_batches: int = 4
    heartbeat_timeout_seconds: int = 20
    max_extraction_depth: int = 5
    # Processing-configuration answers by decision point; "ask" waits for a person.
    decisions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileOptions:
    """What the processing configuration asked of the per-file micro-services."""

    identify: bool = True
    identify_tool: str = "Siegfried"  # or "FIDO"
    scan: bool = True
    quarantine: bool = False  # else an infected file fails the transfer once every batch is done
    extract: bool = True
    delete_packages: bool = False
    extracted_at: str = ""  # ISO time naming the `<package>-<date>` folders, fixed by the workflow for retries


@dataclass(frozen=True)
class Wanted:
    """What the processing configuration asked of normalization (the workflow's decisions, per attempt)."""

    preservation: bool = False
    access: bool = False
    thumbnails: bool = False
    default_thumbnails: bool = True  # "Yes, without default icons" leaves out the fallback icons
    transcription: bool = False
    attempt: int = 1
    rules: bool = True  # False: "Normalize manually", only objects/manualNormalization/ gives derivatives
    service_files: bool = False  # access copies from objects/service/ where an original has a service file


@dataclass(frozen=True)
class Batch:
    index: int  # unique across rounds
    offset: int  # byte offset of the batch's first line in its round's inventory
    count: int
    round: int = 0  # 0: the transfer's own files; n: files extracted from packages found in round n - 1


@dataclass(frozen=True)
class Extracted:
    """A package opened by a batch: the folder its contents went to, relative to the bag's `data/`."""

    directory: str
    package: str
    package_uuid: str


@dataclass(frozen=True)
class Inventory:
    sip_dir: str  # the bag root, relative to the currently-processing folder
    aip_name: str  # `<sanitized name>-<uuid>`
    file_count: int
    total_bytes: int
    batches: list[Batch] = field(default_factory=list)


@dataclass(frozen=True)
class BatchResult:
    index: int
    files: int
    bytes: int
    infected: list[str] = field(default_factory=list)
    extracted: list[Extracted] = field(default_factory=list)
    failed_tasks: int = 0


@dataclass(frozen=True)
class PackedAip:
    path: str  # relative to the currently-processing folder
    size: int
    sha256: str
    compression: str = "7z-bzip2"  # as the pointer file names it


@dataclass(frozen=True)
class StoredAip:
    location_uuid: str
    current_path: str
    size: int
    sha256: str
    compression: str = "7z-bzip2"
