from clients.storage.client import StorageClient
from clients.storage.schemas import (
    BrowseEntry,
    BrowseEntryType,
    LocationBrowse,
    LocationPurpose,
    LocationRead,
    PackageRead,
    PackageStatus,
    PackageType,
)

__all__ = [
    "BrowseEntry",
    "BrowseEntryType",
    "LocationBrowse",
    "LocationPurpose",
    "LocationRead",
    "PackageRead",
    "PackageStatus",
    "PackageType",
    "StorageClient",
]
