"""HTTP operations on AIPs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from clients.storage.schemas import PackageRead, PackageStatus
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep, SessionsDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.problems import Problem
from services.storage.packages import service
from services.storage.packages.download import download_response

router = APIRouter(prefix="/aips", tags=["aips"])

BINARY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The package file, streamed (Content-Length or chunked).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
BINARY_CONTENT = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


async def _request_body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect as exc:
        # Nobody is left to read the answer; a problem (not a 500 traceback) keeps the logs quiet.
        raise Problem(400, "Upload interrupted", "The client went away before the package was complete") from exc


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError as exc:
        raise Problem(400, "Invalid Content-Length", f"{value!r} is not a number") from exc
    if length < 0:
        raise Problem(400, "Invalid Content-Length", f"{value!r} is negative")
    return length


@router.put(
    "/{aip_uuid}",
    response_model=PackageRead,
    status_code=status.HTTP_201_CREATED,
    summary="Store an AIP; the request body is the package file",
    openapi_extra=internal_operation(BINARY_BODY),
    responses={200: {"model": PackageRead, "description": "Already stored with the same SHA-256; upload dropped"}},
)
async def store_aip_package(
    aip_uuid: UUID,
    request: Request,
    response: Response,
    sessions: SessionsDep,
    caller: CallerDep,
    name: Annotated[str, Query(min_length=1, max_length=service.NAME_MAX, description="Package name")],
    sha256: Annotated[str, Query(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the body")],
    location_uuid: Annotated[
        UUID | None, Query(description="AIP storage location; default: the default one")
    ] = None,
    extension: Annotated[
        str, Query(max_length=service.EXTENSION_MAX, description="File extension, e.g. 7z or tar.gz")
    ] = "7z",
    origin: Annotated[str | None, Query(max_length=255, description="Who or what produced the AIP")] = None,
) -> PackageRead:
    """Streams the body to `<location>/<quad path>/<name>-<uuid>.<extension>`, checking its SHA-256.

    Idempotent: the same UUID and SHA-256 again answers 200 with the stored package and keeps one copy;
    the same UUID with another SHA-256 is a conflict (409); a checksum mismatch is 422 and stores nothing.
    """
    store = service.StoreRequest(
        aip_uuid=aip_uuid,
        name=name,
        sha256=sha256.lower(),
        extension=extension,
        location_uuid=location_uuid,
        origin=origin,
        content_length=_content_length(request),
    )
    package, created = await service.store_aip(sessions, store, _request_body(request))
    if not created:
        response.status_code = status.HTTP_200_OK
    return package


@router.get("", response_model=Page[PackageRead], summary="List AIPs")
async def list_aip_packages(
    session: SessionDep,
    page: PageDep,
    caller: CallerDep,
    status_filter: Annotated[PackageStatus | None, Query(alias="status")] = None,
) -> Page[PackageRead]:
    return await service.list_aips(session, status_filter, page)


@router.get("/{aip_uuid}", response_model=PackageRead, summary="Get an AIP's record")
async def get_aip_package(aip_uuid: UUID, session: SessionDep, caller: CallerDep) -> PackageRead:
    return await service.read_aip(session, aip_uuid)


@router.get(
    "/{aip_uuid}/download",
    response_class=StreamingResponse,
    summary="Download an AIP's package file (supports a single Range)",
    responses={
        200: {"content": BINARY_CONTENT, "description": "The whole package file"},
        206: {"content": BINARY_CONTENT, "description": "The requested byte range"},
        416: {"description": "The range lies outside the file"},
    },
)
async def download_aip_package(
    aip_uuid: UUID,
    sessions: SessionsDep,
    caller: CallerDep,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header(alias="if-range")] = None,
) -> StreamingResponse:
    source = await service.download_source(sessions, aip_uuid)
    return download_response(source, range_header, if_range)
