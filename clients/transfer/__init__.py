from clients.transfer.client import TransferClient, file_stream, sha256_file, tar_stream
from clients.transfer.schemas import (
    ArchiveFormat,
    TransferDecision,
    TransferFromLocation,
    TransferRead,
    TransferSourceKind,
    TransferStatus,
    TransferType,
    TransferUpdate,
    UploadSessionCreate,
    UploadSessionRead,
)

__all__ = [
    "ArchiveFormat",
    "TransferClient",
    "TransferDecision",
    "TransferFromLocation",
    "TransferRead",
    "TransferSourceKind",
    "TransferStatus",
    "TransferType",
    "TransferUpdate",
    "UploadSessionCreate",
    "UploadSessionRead",
    "file_stream",
    "sha256_file",
    "tar_stream",
]
