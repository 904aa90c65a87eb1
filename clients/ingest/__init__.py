from clients.ingest.client import IngestClient
from clients.ingest.processing import (
    DecisionAnswer,
    DecisionRead,
    ProcessingConfigFields,
    ProcessingConfigRead,
    ProcessingConfigWrite,
)
from clients.ingest.schemas import (
    FINAL_STATUSES,
    CleanUpRead,
    IngestCreate,
    IngestRead,
    IngestStatus,
    IngestUpdate,
    JobRead,
    JobStatus,
    JobUpsert,
    TaskRead,
    TaskRecord,
    TaskStatus,
)

__all__ = [
    "FINAL_STATUSES",
    "CleanUpRead",
    "DecisionAnswer",
    "DecisionRead",
    "IngestClient",
    "IngestCreate",
    "IngestRead",
    "IngestStatus",
    "IngestUpdate",
    "JobRead",
    "JobStatus",
    "JobUpsert",
    "ProcessingConfigFields",
    "ProcessingConfigRead",
    "ProcessingConfigWrite",
    "TaskRead",
    "TaskRecord",
    "TaskStatus",
]
