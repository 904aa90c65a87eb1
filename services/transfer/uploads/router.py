"""HTTP operations on resumable uploads."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response, status

from clients.transfer.schemas import TransferRead, UploadSessionCreate, UploadSessionRead
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep, SessionsDep
from servicekit.openapi import binary_body
from servicekit.roles import Role, role_operation
from services.transfer.deps import IngestDep, LeasesDep, SettingsDep
from services.transfer.uploads import service

router = APIRouter(prefix="/uploads", tags=["uploads"])

CHUNK_BODY = binary_body("Bytes of the archive from the chunk's first byte on, streamed as the raw request body.")


@router.post(
    "", response_model=UploadSessionRead, status_code=status.HTTP_201_CREATED,
    summary="Open a resumable upload",
    openapi_extra=role_operation(Role.archivist),
)
async def create_upload_session(
    body: UploadSessionCreate, session: SessionDep, settings: SettingsDep, ingest: IngestDep, caller: CallerDep
) -> UploadSessionRead:
    """Declares the archive's size and SHA-256; send it with PUT in chunks, then complete it.

    An unknown `processing_config` is refused (422), and so is any session while the ingest service cannot be
    asked (503)."""
    return await service.create_upload_session(session, settings, ingest, body, caller)


@router.get(
    "/{upload_uuid}", response_model=UploadSessionRead, summary="Get a resumable upload and its offset",
    openapi_extra=role_operation(Role.reader),
)
async def get_upload_session(
    upload_uuid: UUID, session: SessionDep, settings: SettingsDep, caller: CallerDep
) -> UploadSessionRead:
    """`offset` is where the next chunk must start (after a broken connection, resume from there)."""
    return await service.read_upload_session(session, settings, upload_uuid)


@router.put(
    "/{upload_uuid}", response_model=UploadSessionRead, summary="Send a chunk of a resumable upload",
    openapi_extra=role_operation(Role.archivist, CHUNK_BODY),
)
async def put_upload_chunk(
    upload_uuid: UUID, request: Request, sessions: SessionsDep, settings: SettingsDep, caller: CallerDep,
    content_range: Annotated[
        str | None, Header(description="bytes <first>-<last>/<total>; or use the offset parameter")
    ] = None,
    offset: Annotated[int | None, Query(ge=0, description="Where the chunk starts")] = None,
) -> UploadSessionRead:
    """Appends the chunk. Bytes before the current offset are skipped (re-sending is harmless); a chunk starting
    after it is refused (409) with the offset to resume from."""
    return await service.write_chunk(sessions, settings, upload_uuid, request.stream(), content_range, offset)


@router.post(
    "/{upload_uuid}/complete", response_model=TransferRead, status_code=status.HTTP_201_CREATED,
    summary="Complete a resumable upload and start its transfer",
    openapi_extra=role_operation(Role.archivist),
)
async def complete_upload_session(
    upload_uuid: UUID, sessions: SessionsDep, settings: SettingsDep, ingest: IngestDep, leases: LeasesDep,
    caller: CallerDep,
) -> TransferRead:
    """Verifies the size and the SHA-256 (422 naming expected and actual), then extracts the archive as
    POST /transfers/upload does."""
    return await service.complete_upload(sessions, settings, ingest, leases, upload_uuid)


@router.delete(
    "/{upload_uuid}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
    summary="Abandon a resumable upload",
    openapi_extra=role_operation(Role.archivist),
)
async def delete_upload_session(
    upload_uuid: UUID, sessions: SessionsDep, settings: SettingsDep, caller: CallerDep
) -> Response:
    await service.delete_upload_session(sessions, settings, upload_uuid)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
