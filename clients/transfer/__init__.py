from clients.transfer.client import TransferClient, file_stream, tar_stream
from clients.transfer.schemas import (
    ArchiveFormat,
    TransferFromLocation,
    TransferRead,
    TransferSourceKind,
    TransferStatus,
)

__all__ = [
    "ArchiveFormat",
    "TransferClient",
    "TransferFromLocation",
    "TransferRead",
    "TransferSourceKind",
    "TransferStatus",
    "file_stream",
    "tar_stream",
]
