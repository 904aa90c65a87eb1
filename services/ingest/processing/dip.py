"""The DIP, as Archivematica lays it out: `<name>-<AIP uuid>/` with `objects/<fileUUID>-<name>.<ext>` (access
copies, made by normalization outside the bag), `thumbnails/<fileUUID>.jpg`, a copy of the AIP METS,
`processingMCP.xml` and `OCRfiles/`; written as one tar, streamed file by file, for the storage service."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

from services.ingest.microservices.normalization import OCR_DIR, THUMBNAILS_DIR
from services.ingest.processing.layout import SipLayout


def dip_members(layout: SipLayout) -> Iterator[tuple[Path, str]]:
    """(file, name inside the DIP folder) for every file the DIP holds but processingMCP.xml."""
    sources = ((layout.dip / "objects", "objects"), (layout.data / THUMBNAILS_DIR, "thumbnails"),
               (layout.data / OCR_DIR, "OCRfiles"))
    for folder, name in sources:
        if folder.is_dir():
            for path in sorted(p for p in folder.iterdir() if p.is_file()):
                yield path, f"{name}/{path.name}"
    if layout.mets.is_file():
        yield layout.mets, layout.mets.name


def write_dip_tar(layout: SipLayout, dip_name: str, processing_mcp: str, target: Path) -> int:
    """The DIP as a tar at `target` (written to a part file, renamed last); returns the number of files."""
    partial = target.with_name(target.name + ".part")
    count = 0
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for path, name in dip_members(layout):
            tar.add(path, arcname=f"{dip_name}/{name}", recursive=False)
            count += 1
        data = processing_mcp.encode()
        info = tarfile.TarInfo(f"{dip_name}/processingMCP.xml")
        info.size, info.mtime, info.mode = len(data), int(layout.mets.stat().st_mtime), 0o644
        tar.addfile(info, io.BytesIO(data))
    os.replace(partial, target)
    return count + 1
