"""Writing the BagIt tag files of an AIP from digests already computed, instead of reading the payload again."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path

BAGIT_TXT = "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"


def encode_manifest_path(path: str) -> str:
    """BagIt percent-encodes the characters that would break a manifest line."""
    return path.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


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
