"""Wire schemas of the ingest service."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from clients.ingest.processing import DecisionRead

# Names of processing configurations: they appear in URLs and in the transfer record, so no spaces or slashes.
PROCESSING_CONFIG_NAME = r"^[A-Za-z0-9_.-]{1,100}$"
DEFAULT_PROCESSING_CONFIG = "automated"


class IngestStatus(StrEnum):
    queued = "queued"
    processing = "processing"
    awaiting_decision = "awaiting_decision"
    stored = "stored"
    failed = "failed"
    rejected = "rejected"
    backlogged = "backlogged"  # the processed transfer went to the storage backlog instead of becoming an AIP
    cancelled = "cancelled"  # stopped on request (`cancelled_by`, `cancelled_at`); `POST …/retry` starts it again


# An ingest in one of these is done: nothing more happens to it unless it is retried or cleaned up.
FINAL_STATUSES = frozenset({IngestStatus.stored, IngestStatus.failed, IngestStatus.rejected,
                            IngestStatus.backlogged, IngestStatus.cancelled})
# What a final ingest may leave in the processing location for `POST …/clean-up` to remove.
CLEANABLE_STATUSES = frozenset({IngestStatus.failed, IngestStatus.rejected, IngestStatus.cancelled})
# Only these can be retried: a rejection was a person's verdict, not an accident.
RETRYABLE_STATUSES = frozenset({IngestStatus.failed, IngestStatus.cancelled})


class JobStatus(StrEnum):
    running = "running"
    completed = "completed"
    failed = "failed"


class IngestCreate(BaseModel):
    transfer_uuid: UUID = Field(description="The transfer this ingest processes; one ingest per transfer.")
    name: str = Field(min_length=1, max_length=255, description="Package name; the AIP is `<name>-<uuid>`.")
    path: str = Field(description="The transfer's folder, relative to the currently-processing location.")
    created_by: str = Field(default="system", description="User who started the transfer.")
    processing_config: str = Field(
        default=DEFAULT_PROCESSING_CONFIG, pattern=PROCESSING_CONFIG_NAME,
        description="The processing configuration answering the decision points (`automated` answers all).",
    )


class IngestWarning(BaseModel):
    """Something about how the ingest was processed that a person should know, e.g. a choice of the transfer's
    processingMCP.xml that Amber does not follow."""

    source: str = Field(description="Where it comes from, e.g. `processingMCP.xml`.")
    message: str = Field(max_length=2000)
    link: str | None = Field(default=None, description="The Archivematica decision link (`appliesTo`).")
    link_name: str | None = Field(default=None, description="Archivematica's name of that link, where known.")
    choice: str | None = Field(default=None, description="The choice made there (`goToChain`).")
    choice_name: str | None = Field(default=None, description="Archivematica's name of that choice, where known.")


class IngestUpdate(BaseModel):
    status: IngestStatus | None = None
    current_job: str | None = None
    error: str | None = Field(default=None, max_length=8000)
    file_count: int | None = None
    files_done: int | None = None
    aip_path: str | None = None
    aip_location_uuid: UUID | None = None
    aip_size: int | None = None
    aip_sha256: str | None = None
    decision: DecisionRead | None = Field(default=None, description="The decision awaited; null clears it.")
    warnings: list[IngestWarning] | None = Field(default=None, description="Replaces the ingest's warnings.")
    cancelled_at: datetime | None = Field(default=None, description="Set by the workflow when it has stopped.")


class IngestRead(BaseModel):
    uuid: UUID = Field(description="The SIP/AIP UUID.")
    transfer_uuid: UUID
    name: str
    path: str
    status: IngestStatus
    current_job: str | None
    error: str | None
    file_count: int | None
    files_done: int
    aip_path: str | None = Field(description="Path of the stored AIP inside its storage location.")
    aip_location_uuid: UUID | None
    aip_size: int | None
    aip_sha256: str | None
    workflow_id: str
    processing_config: str
    decision: DecisionRead | None = Field(default=None, description="The decision the ingest is waiting for.")
    warnings: list[IngestWarning] = Field(
        default_factory=list,
        description="What a person should know about how the ingest was processed, e.g. choices of the "
        "transfer's processingMCP.xml that Amber does not implement and ignored.",
    )
    queue_position: int | None = Field(
        default=None, description="Place in line while waiting for a processing slot (1 = next); null once admitted."
    )
    retry_of: UUID | None = Field(default=None, description="The failed or cancelled ingest this one retries.")
    cancelled_by: str | None = Field(default=None, description="Who asked to cancel the ingest.")
    cancelled_at: datetime | None = Field(default=None, description="When the cancelled ingest stopped.")
    finished_at: datetime | None = Field(default=None, description="When the ingest reached its final status.")
    cleaned_at: datetime | None = Field(
        default=None, description="When what the ingest left in the processing location was removed."
    )
    cleaned_by: str | None = Field(default=None, description="Who removed it (`retention` for the periodic sweep).")
    cleaned_bytes: int | None = Field(default=None, description="How many bytes the clean-up removed.")
    transfer_removed: bool = Field(
        default=False, description="The kept transfer folder was removed too: the ingest can no longer be retried."
    )
    created_by: str
    created_at: datetime
    updated_at: datetime


class RemovedPath(BaseModel):
    path: str = Field(description="Relative to the currently-processing location.")
    bytes: int = Field(description="Bytes of the files removed under it.")


class CleanUpRead(BaseModel):
    """What a clean-up removed from the processing location (nothing again on a second call)."""

    ingest_uuid: UUID
    removed: list[RemovedPath]
    bytes: int
    kept: list[str] = Field(
        default_factory=list,
        description="The kept transfer folder, left for a retry (unless `transfer=true`) or because a retry owns it.",
    )
    cleaned_at: datetime
    cleaned_by: str


class JobUpsert(BaseModel):
    """A micro-service job's progress, keyed by the job's stable key within the ingest."""

    name: str = Field(max_length=200)
    microservice: str = Field(max_length=200)
    status: JobStatus
    files_total: int | None = None
    files_done: int | None = None
    exit_code: int | None = None
    message: str | None = Field(default=None, max_length=8000)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobRead(JobUpsert):
    key: str
    ingest_uuid: UUID


class TaskStatus(StrEnum):
    completed = "completed"
    failed = "failed"
    skipped = "skipped"


class TaskRecord(BaseModel):
    """One file's result in one job: what Archivematica calls a task."""

    path: str = Field(min_length=1, max_length=4096, description="The file, relative to the package root.")
    file_uuid: UUID | None = None
    status: TaskStatus
    exit_code: int = 0
    message: str = Field(default="", max_length=2000, description="A bounded summary, never a tool's full output.")
    started_at: datetime | None = None
    finished_at: datetime | None = None


class TasksBulk(BaseModel):
    tasks: list[TaskRecord] = Field(max_length=5000)


class TaskRead(TaskRecord):
    job_key: str
