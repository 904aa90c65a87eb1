"""HTTP operations on transfers."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from clients.ingest.schemas import DEFAULT_PROCESSING_CONFIG
from clients.transfer.schemas import (
    NAME_PATTERN,
    ArchiveFormat,
    IngestStatusReport,
    ProcessingConfigName,
    TransferDecision,
    TransferFromLocation,
    TransferRead,
    TransferStatus,
    TransferType,
    TransferUpdate,
)
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep, SessionsDep
from servicekit.openapi import binary_body, internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.roles import Role, role_operation
from services.transfer.deps import IngestDep, LeasesDep, SettingsDep, StorageDep
from services.transfer.transfers import service

router = APIRouter(prefix="/transfers", tags=["transfers"])

ARCHIVE_BODY = binary_body("The archive (zip, tar, tar.gz or 7z), streamed as the raw request body.")


@router.post(
    "", response_model=TransferRead, status_code=status.HTTP_201_CREATED,
    summary="Start a transfer from a folder of a transfer-source location",
    openapi_extra=role_operation(Role.archivist),
)
async def create_transfer_from_location(
    body: TransferFromLocation, sessions: SessionsDep, settings: SettingsDep, storage: StorageDep,
    ingest: IngestDep, leases: LeasesDep, caller: CallerDep,
) -> TransferRead:
    """Copies the folder into the currently-processing area (answering once done) and starts its ingest.

    Links, devices, FIFOs and sockets in the folder are refused (422, listed). An unknown `processing_config` is
    refused (422) before anything is copied, and so is any transfer while the ingest service cannot be asked
    (503). When the ingest service cannot be reached at hand-off the transfer is marked failed and the answer
    is 502.
    """
    return await service.receive_from_location(sessions, settings, storage, ingest, leases, body, caller)


@router.post(
    "/upload", response_model=TransferRead, status_code=status.HTTP_201_CREATED,
    summary="Start a transfer from an uploaded archive", openapi_extra=role_operation(Role.archivist, ARCHIVE_BODY),
)
async def upload_transfer(
    request: Request, sessions: SessionsDep, settings: SettingsDep, ingest: IngestDep, leases: LeasesDep,
    caller: CallerDep,
    name: Annotated[str, Query(min_length=1, max_length=255, pattern=NAME_PATTERN, description="Transfer name")],
    archive_format: Annotated[
        ArchiveFormat | None, Query(description="Format of the archive; detected from its first bytes if absent")
    ] = None,
    filename: Annotated[
        str | None, Query(max_length=1024, pattern=NAME_PATTERN, description="Name of the uploaded file")
    ] = None,
    transfer_type: Annotated[TransferType | None, Query(description="Detected when absent")] = None,
    auto_approve: Annotated[
        bool, Query(description="Hand to ingest at once; otherwise wait in `awaiting_approval`")
    ] = True,
    processing_config: Annotated[ProcessingConfigName, Query()] = DEFAULT_PROCESSING_CONFIG,
) -> TransferRead:
    """Extracts the archive safely and starts its ingest: a tar or tar.gz as its bytes arrive, a zip or 7z once
    streamed to disk (413 beyond the upload limit). The answer comes once the whole body has been read, refused or
    not.

    An archive whose entries all sit under one top-level folder has that folder as its root. Absolute or `..`
    paths, links, devices, FIFOs, control characters in names, and archives beyond the entry, size or expansion
    ratio limits are refused (422) and leave nothing behind. An unknown `processing_config` is refused (422)
    before the body is read.
    """
    return await service.receive_upload(
        sessions, settings, ingest, leases, name=name, archive_format=archive_format, filename=filename,
        chunks=request.stream(), declared_length=service.declared_length(request.headers.get("content-length")),
        caller=caller, transfer_type=transfer_type, auto_approve=auto_approve, processing_config=processing_config,
    )


@router.get(
    "", response_model=Page[TransferRead], summary="List transfers, newest first",
    openapi_extra=role_operation(Role.reader),
)
async def list_transfers(
    session: SessionDep, page: PageDep, caller: CallerDep,
    status_filter: Annotated[
        TransferStatus | None, Query(alias="status", description="`awaiting_approval` lists those to decide on")
    ] = None,
    include_hidden: Annotated[bool, Query(description="Include hidden transfers")] = False,
    name: Annotated[str | None, Query(max_length=255, description="Only transfers of this name")] = None,
) -> Page[TransferRead]:
    return await service.list_transfers(session, status_filter, page, include_hidden=include_hidden, name=name)


@router.get(
    "/{transfer_uuid}", response_model=TransferRead, summary="Get a transfer",
    openapi_extra=role_operation(Role.reader),
)
async def get_transfer(transfer_uuid: UUID, session: SessionDep, caller: CallerDep) -> TransferRead:
    """Includes `ingest_uuid`, through which the ingest's progress can be followed."""
    return await service.read_transfer(session, transfer_uuid)


@router.patch(
    "/{transfer_uuid}", response_model=TransferRead, summary="Hide or show a finished transfer",
    openapi_extra=role_operation(Role.archivist),
)
async def update_transfer(
    transfer_uuid: UUID, body: TransferUpdate, session: SessionDep, caller: CallerDep
) -> TransferRead:
    """Hidden transfers are left out of lists unless `include_hidden=true`; only finished ones can be hidden."""
    return await service.update_transfer(session, transfer_uuid, body)


@router.delete(
    "/{transfer_uuid}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
    summary="Delete a finished transfer",
    openapi_extra=role_operation(Role.archivist),
)
async def delete_transfer(
    transfer_uuid: UUID, sessions: SessionsDep, settings: SettingsDep, caller: CallerDep
) -> Response:
    """Removes the record of a failed, rejected or ingesting transfer (409 while it is being received or awaits
    a decision). The folder of an ingesting transfer belongs to its ingest and stays."""
    await service.delete_transfer(sessions, settings, transfer_uuid)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Archivist: approving a transfer is an intake decision, like the ingest's decision points.
@router.post(
    "/{transfer_uuid}/approve", response_model=TransferRead, summary="Approve a transfer",
    openapi_extra=role_operation(Role.archivist),
)
async def approve_transfer(
    transfer_uuid: UUID, sessions: SessionsDep, ingest: IngestDep, leases: LeasesDep, caller: CallerDep
) -> TransferRead:
    """Hands a transfer in `awaiting_approval` to the ingest service (409 in any other status)."""
    return await service.approve_transfer(sessions, ingest, leases, transfer_uuid)


@router.post(
    "/{transfer_uuid}/reject", response_model=TransferRead, summary="Reject a transfer",
    openapi_extra=role_operation(Role.archivist),
)
async def reject_transfer(
    transfer_uuid: UUID, sessions: SessionsDep, settings: SettingsDep, leases: LeasesDep, caller: CallerDep,
    body: TransferDecision | None = None,
) -> TransferRead:
    """Removes the placed folder of a transfer in `awaiting_approval`; the record stays with status `rejected`."""
    return await service.reject_transfer(sessions, settings, leases, transfer_uuid, body.reason if body else None)



@router.put(
    "/{transfer_uuid}/ingest-status", response_model=TransferRead,
    summary="Report where the transfer's ingest stands (ingest service)", openapi_extra=internal_operation(),
)
async def report_transfer_ingest_status(
    transfer_uuid: UUID, body: IngestStatusReport, session: SessionDep, caller: CallerDep
) -> TransferRead:
    """The transfer's status follows its ingest to the end (`stored`, `backlogged`, `failed`, …); a retry makes
    the transfer follow the new ingest. Idempotent: the same report again changes nothing."""
    return await service.report_ingest_status(session, transfer_uuid, body)
