"""Streaming a package file over HTTP, whole or as one byte range (RFC 9110 §14)."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from servicekit.openapi import binary_content
from servicekit.problems import Problem
from services.storage.packages.archive import tar_chunks
from services.storage.packages.service import DownloadSource, ExtractedFile, iterate_in_thread

MEDIA_TYPES = {
    "7z": "application/x-7z-compressed",
    "tar.gz": "application/gzip",
    "tgz": "application/gzip",
    "tar.bz2": "application/x-bzip2",
    "tar": "application/x-tar",
    "zip": "application/zip",
    "xml": "application/xml",
    "txt": "text/plain",
}
# What a download or an extracted file may be sent as, octet-stream first: generated clients take the first media
# type they know and hand the bytes over whatever the file is.
DOWNLOAD_CONTENT = {
    kind: binary_content(kind)[kind] for kind in dict.fromkeys(["application/octet-stream", *MEDIA_TYPES.values()])
}
_SINGLE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class RangeNotSatisfiable(Problem):
    def __init__(self, size: int) -> None:
        super().__init__(
            416, "Range not satisfiable", f"The package has {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The [start, end) a Range header asks for; None to send the whole file.

    Only single ranges are honoured; a multi-range or malformed header is ignored, which RFC 9110 allows
    (the client then gets the whole file with 200).
    """
    if header is None:
        return None
    match = _SINGLE_RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(size - suffix, 0), size
    start = int(first)
    if last and int(last) < start:
        return None  # syntactically invalid, so ignored
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = size if not last else min(int(last) + 1, size)
    return start, end


def content_disposition(filename: str) -> str:
    """`attachment; filename="…"`, plus an RFC 6266 `filename*` when the name is not plain ASCII."""
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\' else "_" for ch in filename)
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def media_type(filename: str) -> str:
    for extension, kind in MEDIA_TYPES.items():
        if filename.endswith("." + extension):
            return kind
    return "application/octet-stream"


def download_response(source: DownloadSource, range_header: str | None, if_range: str | None) -> StreamingResponse:
    if source.tar is not None:
        # An uncompressed package goes out as a tar made as it is sent: whole only, its length known up front.
        return StreamingResponse(
            iterate_in_thread(tar_chunks(source.tar)),
            headers={"Content-Disposition": content_disposition(source.filename),
                     "Content-Length": str(source.size)},
            media_type="application/x-tar",
        )
    etag = f'"{source.sha256}"' if source.sha256 else None
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(source.filename),
    }
    if etag:
        headers["ETag"] = etag
    # If-Range: a range of a different representation would be garbage, so send it whole instead.
    wanted = parse_range(range_header, source.size) if if_range is None or if_range == etag else None
    if wanted is None:
        start, end, status = 0, source.size, 200
    else:
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{source.size}"
    headers["Content-Length"] = str(end - start)
    return StreamingResponse(
        source.backend.open_read(source.relative_path, start, end),
        status_code=status,
        headers=headers,
        media_type=media_type(source.filename),
    )


def extracted_response(extracted: ExtractedFile) -> StreamingResponse:
    return StreamingResponse(
        extracted.chunks,
        headers={"Content-Disposition": content_disposition(extracted.filename),
                 "Content-Length": str(extracted.size)},
        media_type=media_type(extracted.filename),
    )
