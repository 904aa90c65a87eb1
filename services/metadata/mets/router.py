"""HTTP operations on METS documents."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from servicekit.auth import CallerDep
from services.metadata.mets import service

router = APIRouter(prefix="/mets", tags=["mets"])


@router.get(
    "/{package_uuid}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/xml": {}}, "description": "The AIP METS document."}},
)
async def stream_package_mets(package_uuid: UUID, request: Request, _caller: CallerDep) -> StreamingResponse:
    """The package's AIP METS (METS 1.12.1, PREMIS 3.0), generated and streamed from the PREMIS records.

    No request transaction: the document is read in short sessions, one chunk of files at a time.
    """
    mets = await service.open_mets(request.app.state.sessions, request.app.state.settings, package_uuid)
    return StreamingResponse(
        mets.chunks(),
        media_type="application/xml",
        headers={"Content-Disposition": f'inline; filename="{mets.filename}"'},
    )
