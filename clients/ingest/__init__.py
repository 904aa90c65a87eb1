from clients.ingest.client import IngestClient
from clients.ingest.processing import (
    DecisionAnswer,
    DecisionRead,
    ProcessingConfigFields,
    ProcessingConfigRead,
    ProcessingConfigWrite,
)
from clients.ingest.schemas import (
    IngestCreate,
    IngestRead,
    IngestStatus,
    IngestUpdate,
    IngestWarning,
    JobRead,
    JobStatus,
    JobUpsert,
    TaskRead,
    TaskRecord,
    TaskStatus,
)

__all__ = [
    "DecisionAnswer",
    "DecisionRead",
    "IngestClient",
    "IngestCreate",
    "IngestRead",
    "IngestStatus",
    "IngestUpdate",
    "IngestWarning",
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
