"""HTTP operations importing documents: a transfer's premis.xml, an existing AIP's METS (bodies streamed)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import UUID

import aiofiles
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from clients.metadata.schemas import ImportResult
from servicekit.auth import CallerDep
from servicekit.openapi import internal_operation
from services.metadata.imports import service
from services.metadata.mets import safexml

router = APIRouter(prefix="/premis/packages/{package_uuid}/import", tags=["premis"])
XML_BODY = {"requestBody": {"required": True, "content": {"application/xml": {"schema": {"type": "string",
                                                                                        "format": "binary"}}}}}


@asynccontextmanager
async def spooled(request: Request) -> AsyncIterator[Path]:
    """The request body in a temporary file (bounded), removed afterwards; no transaction is open meanwhile."""
    limit: int = request.app.state.settings.max_xml_bytes
    handle, name = tempfile.mkstemp(prefix="import-", suffix=".xml", dir=request.app.state.settings.data_dir)
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


@router.post("/premis", response_model=ImportResult, openapi_extra=internal_operation(XML_BODY))
async def import_transfer_premis(package_uuid: UUID, request: Request, _caller: CallerDep) -> ImportResult:
    """Import a transfer's metadata/premis.xml (PREMIS 3.0 or 2.2): its events and rights statements, matched to
    the package's files by original name. Read streaming; idempotent."""
    async with spooled(request) as path:
        return await service.import_transfer_premis(
            request.app.state.sessions, package_uuid, path, request.app.state.settings.max_xml_bytes
        )


@router.post("/mets", response_model=ImportResult, openapi_extra=internal_operation(XML_BODY))
async def import_aip_mets(package_uuid: UUID, request: Request, _caller: CallerDep) -> ImportResult:
    """Import an existing AIP's METS (Archivematica's, PREMIS 2.2 or 3.0): every file with its PREMIS object and
    events. Read streaming; idempotent (file and event uuids come from the document)."""
    async with spooled(request) as path:
        return await service.import_aip_mets(
            request.app.state.sessions, package_uuid, path, request.app.state.settings.max_xml_bytes
        )
