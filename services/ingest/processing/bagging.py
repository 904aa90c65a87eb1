"""Writing the BagIt tag files of an AIP from digests already computed, instead of reading the payload again."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path

# 0.97, as Archivematica's AIPs (bagit-python) declare: its readers, bagit-python first, take manifest paths
# literally. RFC 8493 (1.0) would have `%` written as %25, which those readers look for on disk verbatim.
BAGIT_TXT = "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"


def encode_manifest_path(path: str) -> str:
    """A path as a 0.97 manifest line holds it: literally, `%` included.

    CR and LF are written as %0D/%0A as bagit-python does, though none should arrive: the names the AIP keeps
    as sent (its logs) are made bag-safe first (`filenames.bag_safe_name`), and the rest are sanitized.
    """
    return path.replace("\n", "%0A").replace("\r", "%0D")


def write_atomically(path: Path, lines: Iterable[str]) -> str:
    """Write text lines to `path` via a temporary file; returns the file's sha256."""
    digest = hashlib.sha256()
    temp = path.with_name(path.name + ".part")
    with temp.open("w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line)
            digest.update(line.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)
    return digest.hexdigest()


def bag_info_lines(*, software: str, external_identifier: str, payload_bytes: int, payload_files: int,
                   bagging_date: date) -> list[str]:
    fields = {
        "Bag-Software-Agent": software,
        "Bagging-Date": bagging_date.isoformat(),
        "External-Identifier": external_identifier,
        "Payload-Oxum": f"{payload_bytes}.{payload_files}",
    }
    return [f"{key}: {value}\n" for key, value in sorted(fields.items())]
