from clients.metadata.client import MetadataClient
from clients.metadata.schemas import (
    MAX_BULK,
    AgentRecord,
    BulkResult,
    EventRead,
    EventRecord,
    EventsBulk,
    FileRead,
    FileRecord,
    FilesBulk,
    ObjectEventRecord,
    PackageRead,
    PackageUpsert,
)

__all__ = [
    "MAX_BULK",
    "AgentRecord",
    "BulkResult",
    "EventRead",
    "EventRecord",
    "EventsBulk",
    "FileRead",
    "FileRecord",
    "FilesBulk",
    "MetadataClient",
    "ObjectEventRecord",
    "PackageRead",
    "PackageUpsert",
]
