"""XML documents users send (to validate or import): spooled to a bounded temporary file, never held whole."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiofiles
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from services.metadata.mets import safexml

# The OpenAPI request body of an operation taking a raw XML document.
XML_BODY = {"requestBody": {"required": True, "content": {"application/xml": {"schema": {"type": "string",
                                                                                        "format": "binary"}}}}}


@asynccontextmanager
async def spooled(request: Request, prefix: str) -> AsyncIterator[Path]:
    """The request body in a temporary file (bounded by `max_xml_bytes`), removed afterwards; no transaction is
    open meanwhile."""
    limit: int = request.app.state.settings.max_xml_bytes
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=".xml", dir=request.app.state.settings.data_dir)
    os.close(handle)
    path = Path(name)
    try:
        received = 0
        async with aiofiles.open(path, "wb") as out:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise safexml.too_large(limit)
                await out.write(chunk)
        yield path
    finally:
        await run_in_threadpool(path.unlink, missing_ok=True)
