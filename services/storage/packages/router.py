"""HTTP operations on AIPs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from clients.storage.schemas import (
    AipMoveIn,
    DeletionRequestCreate,
    DeletionRequestRead,
    FixityReport,
    PackageRead,
    PackageStatus,
    PackageType,
    RecoveryRead,
)
from servicekit.auth import CallerDep
from servicekit.db import unit_of_work
from servicekit.deps import SessionDep
from servicekit.openapi import binary_body, binary_content, internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.problems import PROBLEM_RESPONSES, Problem
from servicekit.roles import Role, role_operation
from services.storage.deletions.service import request_deletion
from services.storage.fixity.service import check_package
from services.storage.packages import service
from services.storage.packages.download import DOWNLOAD_CONTENT, download_response, extracted_response
from services.storage.packages.replication import list_replicas, recover, replicate
from services.storage.runtime import Runtime, RuntimeDep

router = APIRouter(prefix="/aips", tags=["aips"])

BINARY_BODY = binary_body("The package file, streamed (Content-Length or chunked).")


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


async def _store(request: Request, response: Response, runtime: Runtime, store: service.StoreRequest) -> PackageRead:
    body = _request_body(request)
    if store.uncompressed:
        package, created = await service.store_folder(runtime.sessions, runtime.roots, store, body)
    else:
        if not store.sha256:
            raise Problem(422, "Missing checksum", "sha256 is required for a package file")
        package, created = await service.store_aip(runtime.sessions, runtime.roots, store, body)
    return await _stored(response, runtime, store, package, created)


async def _stored(
    response: Response, runtime: Runtime, store: service.StoreRequest, package: PackageRead, created: bool
) -> PackageRead:
    """The answer to a store: 201 with the new package, or 200 with the one already stored under that UUID."""
    if not created:
        response.status_code = status.HTTP_200_OK
        return package
    runtime.metrics.stored(package)
    if store.package_type == PackageType.aip:
        # The AIP is stored whatever happens next; a failed copy is recorded as a failed replica and event.
        await replicate(runtime, package.uuid)
    return package


async def _require_aip(runtime: Runtime, aip_uuid: UUID) -> None:
    """404 before work that reaches beyond the package's record (fixity, replication)."""
    async with unit_of_work(runtime.sessions) as session:
        await service.read_aip(session, aip_uuid)


Sha256Query = Annotated[
    str | None,
    Query(pattern=r"^[0-9a-fA-F]{64}$",
          description="SHA-256 of the body; required for a package file, optional for an uncompressed package"),
]
NameQuery = Annotated[str, Query(min_length=1, max_length=service.NAME_MAX)]
ExtensionQuery = Annotated[str, Query(max_length=service.EXTENSION_MAX)]
OriginQuery = Annotated[str | None, Query(max_length=255)]
UncompressedQuery = Annotated[
    bool,
    Query(description="The body is a tar of the bag, unpacked into the package's folder (an uncompressed "
          "package); each file is checked against the bag's manifests"),
]


@router.put(
    "/{aip_uuid}",
    response_model=PackageRead,
    status_code=status.HTTP_201_CREATED,
    summary="Store an AIP; the request body is the package file (or a tar of the bag, when uncompressed)",
    openapi_extra=internal_operation(BINARY_BODY),
    responses={200: {"model": PackageRead, "description": "Already stored with the same SHA-256; upload dropped"}},
)
async def store_aip_package(
    aip_uuid: UUID,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    caller: CallerDep,
    name: Annotated[str, Query(min_length=1, max_length=service.NAME_MAX, description="Package name")],
    sha256: Sha256Query = None,
    location_uuid: Annotated[
        UUID | None, Query(description="AIP storage location; default: the default one")
    ] = None,
    extension: Annotated[
        str, Query(max_length=service.EXTENSION_MAX, description="File extension, e.g. 7z or tar.gz")
    ] = "7z",
    origin: Annotated[str | None, Query(max_length=255, description="Who or what produced the AIP")] = None,
    uncompressed: UncompressedQuery = False,
) -> PackageRead:
    """Streams the body to `<location>/<quad path>/<name>-<uuid>.<extension>`, checking its SHA-256; with
    `uncompressed=true` the body is a tar unpacked into `<location>/<quad path>/<name>-<uuid>/`.

    Idempotent: the same UUID and SHA-256 again answers 200 with the stored package and keeps one copy;
    the same UUID with another SHA-256 is a conflict (409); a checksum mismatch is 422 and stores nothing.
    A stored AIP is then copied to every replicator location attached to its location.
    """
    store = service.StoreRequest(
        aip_uuid=aip_uuid, name=name, sha256=(sha256 or "").lower(), extension=extension,
        location_uuid=location_uuid, origin=origin, content_length=_content_length(request),
        uncompressed=uncompressed,
    )
    return await _store(request, response, runtime, store)


@router.post(
    "/{aip_uuid}/move-in",
    response_model=PackageRead,
    status_code=status.HTTP_201_CREATED,
    summary="Store an AIP file that is already on this machine (in a currently-processing location)",
    openapi_extra=internal_operation(),
    responses={200: {"model": PackageRead, "description": "Already stored with the same SHA-256"}},
)
async def move_aip_package_in(
    aip_uuid: UUID, body: AipMoveIn, response: Response, runtime: RuntimeDep, caller: CallerDep
) -> PackageRead:
    """A rename instead of an upload where the file shares the AIP location's filesystem (else a checked copy);
    idempotent like the PUT. The source is gone afterwards when it was moved."""
    store = service.StoreRequest(
        aip_uuid=aip_uuid, name=body.name, sha256=body.sha256.lower(), extension=body.extension,
        location_uuid=body.location_uuid, origin=body.origin,
    )
    package, created = await service.store_aip_from_path(runtime.sessions, runtime.roots, store, body.source_path)
    return await _stored(response, runtime, store, package, created)


dips_router = APIRouter(prefix="/dips", tags=["dips"])
backlog_router = APIRouter(prefix="/backlog", tags=["backlog"])


@dips_router.put(
    "/{dip_uuid}",
    response_model=PackageRead,
    status_code=status.HTTP_201_CREATED,
    summary="Store a DIP (package file, or a tar of the folder when uncompressed)",
    openapi_extra=internal_operation(BINARY_BODY),
)
async def store_dip_package(
    dip_uuid: UUID,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    caller: CallerDep,
    name: NameQuery,
    aip_uuid: Annotated[UUID | None, Query(description="The AIP the DIP was made from")] = None,
    sha256: Sha256Query = None,
    location_uuid: UUID | None = None,
    extension: ExtensionQuery = "7z",
    origin: OriginQuery = None,
    uncompressed: UncompressedQuery = False,
) -> PackageRead:
    store = service.StoreRequest(
        aip_uuid=dip_uuid, name=name, sha256=(sha256 or "").lower(), extension=extension,
        location_uuid=location_uuid, origin=origin, content_length=_content_length(request),
        package_type=PackageType.dip, related_package_uuid=aip_uuid, uncompressed=uncompressed,
    )
    return await _store(request, response, runtime, store)


@backlog_router.put(
    "/{transfer_uuid}",
    response_model=PackageRead,
    status_code=status.HTTP_201_CREATED,
    summary="Store a transfer in the backlog (a tar of the transfer folder, or a package file)",
    openapi_extra=internal_operation(BINARY_BODY),
)
async def store_backlog_transfer(
    transfer_uuid: UUID,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    caller: CallerDep,
    name: NameQuery,
    sha256: Sha256Query = None,
    location_uuid: UUID | None = None,
    extension: ExtensionQuery = "tar",
    origin: OriginQuery = None,
    uncompressed: UncompressedQuery = True,
) -> PackageRead:
    store = service.StoreRequest(
        aip_uuid=transfer_uuid, name=name, sha256=(sha256 or "").lower(), extension=extension,
        location_uuid=location_uuid, origin=origin, content_length=_content_length(request),
        package_type=PackageType.transfer, uncompressed=uncompressed,
    )
    return await _store(request, response, runtime, store)


@router.get("", response_model=Page[PackageRead], summary="List AIPs", openapi_extra=role_operation(Role.reader))
async def list_aip_packages(
    session: SessionDep,
    page: PageDep,
    caller: CallerDep,
    status_filter: Annotated[PackageStatus | None, Query(alias="status")] = None,
) -> Page[PackageRead]:
    return await service.list_aips(session, status_filter, page)


@router.get(
    "/{aip_uuid}", response_model=PackageRead, summary="Get an AIP's record",
    openapi_extra=role_operation(Role.reader),
)
async def get_aip_package(aip_uuid: UUID, session: SessionDep, caller: CallerDep) -> PackageRead:
    return await service.read_aip(session, aip_uuid)


@router.get(
    "/{aip_uuid}/download",
    response_class=StreamingResponse,
    summary="Download an AIP's package file (supports a single Range)",
    responses={
        200: {"content": DOWNLOAD_CONTENT, "description": "The whole package file"},
        206: {"content": DOWNLOAD_CONTENT, "description": "The requested byte range"},
        416: {**PROBLEM_RESPONSES["4XX"], "description": "The range lies outside the file"},
    },
    openapi_extra=role_operation(Role.reader),
)
async def download_aip_package(
    aip_uuid: UUID,
    runtime: RuntimeDep,
    caller: CallerDep,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header(alias="if-range")] = None,
) -> StreamingResponse:
    """The package file with `Content-Disposition: attachment`; an uncompressed AIP comes as a tar made on the
    fly (whole only)."""
    source = await service.download_source(runtime.sessions, runtime.roots, aip_uuid)
    return download_response(source, range_header, if_range)


@router.get(
    "/{aip_uuid}/files/{path:path}",
    response_class=StreamingResponse,
    summary="One file of a stored AIP (e.g. its METS), without unpacking the AIP",
    responses={200: {"content": DOWNLOAD_CONTENT, "description": "The file"}},
    openapi_extra=role_operation(Role.reader),
)
async def extract_aip_file(aip_uuid: UUID, path: str, runtime: RuntimeDep, caller: CallerDep) -> StreamingResponse:
    """`path` is relative to the bag, e.g. `data/METS.<uuid>.xml`."""
    extracted = await service.extract_file(runtime.sessions, runtime.roots, runtime.settings.seven_zip, aip_uuid, path)
    return extracted_response(extracted)


XML_CONTENT = {"application/xml": {"schema": {"type": "string"}}}
XML_DOCUMENT = binary_content("application/xml")


@router.put(
    "/{aip_uuid}/pointer",
    response_model=PackageRead,
    summary="Store a compressed AIP's pointer file beside it",
    openapi_extra=internal_operation({"requestBody": {"required": True, "content": XML_CONTENT}}),
)
async def store_aip_pointer_file(aip_uuid: UUID, request: Request, runtime: RuntimeDep,
                                 caller: CallerDep) -> PackageRead:
    """The body is the pointer file (a METS document, rendered by the metadata service once the AIP is stored);
    it is written to `pointer.<uuid>.xml` in the package's folder and recorded on the package. An uncompressed
    AIP has none (409)."""
    body = bytearray()
    async for chunk in _request_body(request):
        body += chunk
        if len(body) > service.POINTER_MAX_BYTES:
            raise Problem(413, "Pointer file too large", f"At most {service.POINTER_MAX_BYTES} bytes")
    return await service.store_pointer(runtime.sessions, runtime.roots, aip_uuid, bytes(body))


@router.get(
    "/{aip_uuid}/pointer",
    response_class=Response,
    summary="A compressed AIP's stored pointer file",
    openapi_extra=role_operation(Role.reader),
    responses={200: {"content": XML_DOCUMENT, "description": "The pointer file stored beside the AIP"},
               404: {"description": "No pointer file: the AIP is unknown, or uncompressed"}},
)
async def read_aip_pointer_file(aip_uuid: UUID, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """The pointer file as stored with the AIP (the metadata service's `/mets/{uuid}/pointer` renders the
    record's current state instead)."""
    source = await service.pointer_source(runtime.sessions, runtime.roots, aip_uuid)
    body = b"".join([chunk async for chunk in source.backend.open_read(source.relative_path)])
    return Response(body, media_type="application/xml",
                    headers={"Content-Disposition": f'inline; filename="{source.filename}"'})


@router.post(
    "/{aip_uuid}/fixity", response_model=FixityReport, summary="Check an AIP's fixity now",
    openapi_extra=role_operation(Role.archivist),
)
async def check_aip_fixity(aip_uuid: UUID, runtime: RuntimeDep, caller: CallerDep) -> FixityReport:
    """Full BagIt validation of the stored bag plus the package file's SHA-256; records a PREMIS
    `fixity check` event. Works for replicas too (the event goes to the AIP they copy)."""
    await _require_aip(runtime, aip_uuid)
    return await check_package(runtime, aip_uuid)


@router.get(
    "/{aip_uuid}/replicas", response_model=list[PackageRead], summary="List an AIP's replicas",
    openapi_extra=role_operation(Role.reader),
)
async def list_aip_replicas(aip_uuid: UUID, runtime: RuntimeDep, caller: CallerDep) -> list[PackageRead]:
    return await list_replicas(runtime, aip_uuid)


# Admin: replication writes to other locations, which admins manage.
@router.post(
    "/{aip_uuid}/replicate", response_model=list[PackageRead],
    summary="Copy an AIP to the replicator locations of its location that lack a good copy",
    openapi_extra=role_operation(Role.admin),
)
async def replicate_aip(aip_uuid: UUID, runtime: RuntimeDep, caller: CallerDep) -> list[PackageRead]:
    await _require_aip(runtime, aip_uuid)
    return await replicate(runtime, aip_uuid)


# Admin: recovery overwrites stored package files with a replica's.
@router.post(
    "/{aip_uuid}/recover", response_model=RecoveryRead, summary="Restore a damaged AIP from a replica",
    openapi_extra=role_operation(Role.admin),
)
async def recover_aip(aip_uuid: UUID, runtime: RuntimeDep, caller: CallerDep) -> RecoveryRead:
    """Only when the AIP fails its fixity check (409 otherwise); the first replica that passes is copied back."""
    return await recover(runtime, aip_uuid, caller)


@router.post(
    "/{aip_uuid}/deletion-requests", response_model=DeletionRequestRead, status_code=status.HTTP_201_CREATED,
    summary="Ask for an AIP to be deleted; another user approves or rejects",
    openapi_extra=role_operation(Role.archivist),
)
async def request_aip_deletion(
    aip_uuid: UUID, body: DeletionRequestCreate, runtime: RuntimeDep, caller: CallerDep
) -> DeletionRequestRead:
    return await request_deletion(runtime, aip_uuid, body, caller)


packages_router = APIRouter(prefix="/packages", tags=["packages"])


@packages_router.get(
    "", response_model=Page[PackageRead], summary="List stored packages of a type",
    openapi_extra=role_operation(Role.reader),
)
async def list_stored_packages(
    session: SessionDep,
    page: PageDep,
    caller: CallerDep,
    package_type: PackageType = PackageType.aip,
    status_filter: Annotated[PackageStatus | None, Query(alias="status")] = None,
    related_to: Annotated[UUID | None, Query(description="Only packages made from this one (the DIPs of an "
                                                         "AIP).")] = None,
) -> Page[PackageRead]:
    return await service.list_aips(session, status_filter, page, package_type, related_to)


@packages_router.get(
    "/{package_uuid}", response_model=PackageRead, summary="Get any stored package's record",
    openapi_extra=role_operation(Role.reader),
)
async def get_stored_package(package_uuid: UUID, session: SessionDep, caller: CallerDep) -> PackageRead:
    return await service.read_package(session, package_uuid)


@packages_router.get(
    "/{package_uuid}/download", response_class=StreamingResponse, summary="Download any stored package",
    responses={200: {"content": DOWNLOAD_CONTENT}, 206: {"content": DOWNLOAD_CONTENT}},
    openapi_extra=role_operation(Role.reader),
)
async def download_stored_package(
    package_uuid: UUID,
    runtime: RuntimeDep,
    caller: CallerDep,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header(alias="if-range")] = None,
) -> StreamingResponse:
    source = await service.download_source(runtime.sessions, runtime.roots, package_uuid, None)
    return download_response(source, range_header, if_range)
