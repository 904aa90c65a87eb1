"""HTTP operations on METS documents: the AIP METS, the pointer file, and validation of uploaded documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from clients.metadata.schemas import ValidationReport
from servicekit.auth import CallerDep
from servicekit.openapi import binary_content
from servicekit.roles import Role, role_operation
from services.metadata.mets import service
from services.metadata.mets.uploads import XML_BODY, spooled
from services.metadata.mets.validation import validate_document

router = APIRouter(prefix="/mets", tags=["mets"])


@router.get(
    "/{package_uuid}",
    response_class=StreamingResponse,
    responses={200: {"content": binary_content("application/xml"), "description": "The AIP METS document."}},
    openapi_extra=role_operation(Role.reader),
)
async def stream_package_mets(package_uuid: UUID, request: Request, _caller: CallerDep) -> StreamingResponse:
    """The package's AIP METS (METS 1.12.1, PREMIS 3.0), generated and streamed from the PREMIS records.

    No request transaction: the document is read in short sessions, one chunk of files at a time.
    """
    mets = await service.open_mets(request.app.state.sessions, request.app.state.settings, package_uuid)
    return StreamingResponse(
        nonempty(mets.chunks()),
        media_type="application/xml",
        headers={"Content-Disposition": f'inline; filename="{mets.filename}"'},
    )


async def nonempty(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if chunk:
            yield chunk


@router.get(
    "/{package_uuid}/pointer",
    response_class=Response,
    responses={
        200: {"content": binary_content("application/xml"), "description": "The compressed AIP's pointer file."},
    },
    openapi_extra=role_operation(Role.reader),
)
async def read_package_pointer_file(package_uuid: UUID, request: Request, _caller: CallerDep) -> Response:
    """The pointer file of a compressed AIP (recorded with PUT /premis/packages/{uuid}/aip)."""
    xml = await service.pointer_file(request.app.state.sessions, request.app.state.settings, package_uuid)
    return Response(
        xml, media_type="application/xml",
        headers={"Content-Disposition": f'inline; filename="pointer.{package_uuid}.xml"'},
    )


# Reader: validation changes nothing and keeps nothing; it only reads the body sent.
@router.post(
    "/validate",
    response_model=ValidationReport,
    openapi_extra=role_operation(Role.reader, XML_BODY),
)
async def validate_xml_document(request: Request, _caller: CallerDep) -> ValidationReport:
    """Validate an uploaded METS or PREMIS document (the request body) against METS 1.12.1, PREMIS 3.0 and DC.

    The body is streamed to a temporary file (bounded by the service's `max_xml_bytes`); DTDs, entities and
    network access are refused. Every schema error is reported with its line.
    """
    limit: int = request.app.state.settings.max_xml_bytes
    async with spooled(request, "validate-") as path:
        return await run_in_threadpool(validate_document, path, limit)
