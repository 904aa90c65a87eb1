from clients.ingest.client import IngestClient
from clients.ingest.schemas import (
    IngestCreate,
    IngestRead,
    IngestStatus,
    IngestUpdate,
    JobRead,
    JobStatus,
    JobUpsert,
)

__all__ = [
    "IngestClient",
    "IngestCreate",
    "IngestRead",
    "IngestStatus",
    "IngestUpdate",
    "JobRead",
    "JobStatus",
    "JobUpsert",
]
