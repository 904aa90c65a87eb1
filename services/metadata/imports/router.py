"""HTTP operations importing documents: a transfer's premis.xml, an existing AIP's METS (bodies streamed)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request

from clients.metadata.schemas import ImportResult
from servicekit.auth import CallerDep
from servicekit.openapi import internal_operation
from services.metadata.imports import service
from services.metadata.mets.uploads import XML_BODY, spooled

router = APIRouter(prefix="/premis/packages/{package_uuid}/import", tags=["premis"])


@router.post("/premis", response_model=ImportResult, openapi_extra=internal_operation(XML_BODY))
async def import_transfer_premis(package_uuid: UUID, request: Request, _caller: CallerDep) -> ImportResult:
    """Import a transfer's metadata/premis.xml (PREMIS 3.0 or 2.2): its events and rights statements, matched to
    the package's files by original name. Read streaming; idempotent."""
    async with spooled(request, "import-") as path:
        return await service.import_transfer_premis(
            request.app.state.sessions, package_uuid, path, request.app.state.settings.max_xml_bytes
        )


@router.post("/mets", response_model=ImportResult, openapi_extra=internal_operation(XML_BODY))
async def import_aip_mets(package_uuid: UUID, request: Request, _caller: CallerDep) -> ImportResult:
    """Import an existing AIP's METS (Archivematica's, PREMIS 2.2 or 3.0): every file with its PREMIS object and
    events. Read streaming; idempotent (file and event uuids come from the document)."""
    async with spooled(request, "import-") as path:
        return await service.import_aip_mets(
            request.app.state.sessions, package_uuid, path, request.app.state.settings.max_xml_bytes
        )
