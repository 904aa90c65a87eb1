"""Starting transfers through the dashboard API: the classic `start_transfer` + `approve`, and `v2beta/package`
(with Archivematica 1.19's `Idempotency-Key`), each made a transfer from a location by Amber's transfer service."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from clients.storage.schemas import LocationPurpose
from clients.transfer.schemas import TransferFromLocation, TransferRead, TransferStatus
from gateway.archivematica import repository
from gateway.archivematica.auth import DashboardUser
from gateway.archivematica.dashboard import (
    all_transfers,
    find_transfer,
    read_json,
    router,
    unanchored_router,
)
from gateway.archivematica.errors import dashboard_error, reason_of
from gateway.archivematica.ids import (
    SHARED_DIRECTORY,
    b64decode_lenient,
    split_location_path,
    unit_directory,
    uuid_at_end,
)
from gateway.archivematica.routing import route
from gateway.archivematica.status import FROM_AM_TYPE, TYPE_FOLDERS, UNSUPPORTED_TYPES
from gateway.archivematica.upstream import DashboardUpstream, Upstream
from servicekit.db import session_scope
from servicekit.http import ServiceError
from servicekit.roles import Role

log = logging.getLogger(__name__)
# The processing configuration a classic (start_transfer) transfer gets: Archivematica's pipeline default.
CLASSIC_PROCESSING_CONFIG = "default"

# --- starting transfers ---------------------------------------------------------------------------------------


async def transfer_source(up: Upstream, location: UUID | None, path: str) -> tuple[UUID, str]:
    """The location and the path relative to it: Archivematica takes a path absolute in the location or relative
    to it, and no location at all for the default transfer source."""
    if location is None:
        sources = await up.storage.list_locations(LocationPurpose.transfer_source)
        if not sources:
            raise ValueError("there is no transfer source location")
        chosen = next((s for s in sources if s.is_default), sources[0])
    else:
        chosen = await up.storage.get_location(location)
    root = chosen.path.rstrip("/") + "/"
    relative = path[len(root):] if path.startswith(root) else path
    return chosen.uuid, relative.strip("/") or "."


async def processing_config_name(up: Upstream, wanted: str | None) -> str:
    """Archivematica silently falls back to `default` for a name it does not have."""
    names = {config.name for config in await up.ingest.list_processing_configs()}
    return wanted if wanted in names else CLASSIC_PROCESSING_CONFIG


def as_bool(value: Any) -> bool:
    """JSON true/false, or the strings some clients send for them."""
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off", "")
    return bool(value)


def request_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def _create_package(up: Upstream, body: dict[str, Any]) -> TransferRead:
    name, encoded = body.get("name"), body.get("path")
    if not isinstance(name, str) or not name:
        raise dashboard_error(400, 'Parameter "name" is required.')
    if not isinstance(encoded, str) or not encoded:
        raise dashboard_error(400, 'Parameter "path" is required.')
    decoded = b64decode_lenient(encoded)
    if decoded is None:
        raise dashboard_error(400, 'Parameter "path" cannot be decoded.')
    kind = str(body.get("type") or "standard")
    if kind in UNSUPPORTED_TYPES or kind not in FROM_AM_TYPE:
        raise dashboard_error(400, f"Amber does not support the transfer type {kind!r}.")
    location, path = split_location_path(decoded)
    try:
        location_uuid, relative = await transfer_source(up, location, path)
        config = await processing_config_name(up, body.get("processing_config"))
        spec = TransferFromLocation(
            name=name, location_uuid=location_uuid, path=relative, transfer_type=FROM_AM_TYPE[kind],
            auto_approve=as_bool(body.get("auto_approve", True)), processing_config=config,
        )
        return await up.transfer.create_transfer_from_location(spec)
    except (ServiceError, ValueError, ValidationError) as exc:
        log.info("v2beta/package refused: %s", exc)
        raise dashboard_error(500, f"Package cannot be created: {reason_of(exc)}") from None




@route(router, "/v2beta/package", ["POST"], Role.archivist, status_code=202)
async def am_create_package(request: Request, user: DashboardUser, up: DashboardUpstream) -> JSONResponse:
    """Asynchronous in Archivematica (202 before the transfer starts); here the transfer exists when answered.
    `Idempotency-Key` (Archivematica 1.19): per user; a retry answers the first transfer."""
    body = await read_json(request)
    key = request.headers.get("idempotency-key")
    if not key:
        transfer = await _create_package(up, body)
        return JSONResponse({"id": str(transfer.uuid)}, status_code=202)
    if len(key) > 255:
        raise dashboard_error(400, "The Idempotency-Key header is longer than 255 characters.")
    digest = request_digest(body)
    claim_id: UUID | None = None
    async for session in session_scope(request.app.state.sessions):
        claim = await repository.claim_key(session, user.username, key, digest)
        claim_id = claim.id if claim is not None else None
    if claim_id is None:
        return await _replay(request, user.username, key, digest)
    try:
        transfer = await _create_package(up, body)
    except BaseException:
        async for session in session_scope(request.app.state.sessions):
            await repository.release_key(session, claim_id)
        raise
    async for session in session_scope(request.app.state.sessions):
        await repository.settle_key(session, claim_id, transfer.uuid)
    return JSONResponse({"id": str(transfer.uuid)}, status_code=202)


async def _replay(request: Request, username: str, key: str, digest: str) -> JSONResponse:
    earlier = None
    async for session in session_scope(request.app.state.sessions):
        earlier = await repository.find_key(session, username, key)
    if earlier is None:  # released by a failed first attempt in the meantime: the client may retry
        raise dashboard_error(409, "A request with this Idempotency-Key is being processed.")
    if earlier.request_sha256 != digest:
        raise dashboard_error(422, "This Idempotency-Key was used with different parameters.")
    if earlier.transfer_uuid is None:
        raise dashboard_error(409, "A request with this Idempotency-Key is being processed.")
    return JSONResponse({"id": str(earlier.transfer_uuid)}, status_code=202)


@route(router, "/v2beta/package", ["GET"], Role.reader)
async def am_package_probe() -> JSONResponse:
    """Enduro's version probe: 501 with the version headers (added to every dashboard answer)."""
    return JSONResponse({"error": True, "message": "This endpoint only accepts POST."}, status_code=501)


@route(router, "/transfer/start_transfer", ["POST"], Role.archivist, also=unanchored_router)
async def am_start_transfer(request: Request, up: DashboardUpstream) -> dict[str, Any]:
    """The classic start: the transfer is placed and waits for approval (`/api/transfer/approve/`)."""
    form = await request.form()
    name = form.get("name")
    paths = [p for p in form.getlist("paths[]") if isinstance(p, str)]
    kind = str(form.get("type") or "standard")
    if not isinstance(name, str) or not name or not paths:
        raise dashboard_error(500, "Please specify a name and at least one path (paths[]).")
    if kind in UNSUPPORTED_TYPES or kind not in FROM_AM_TYPE:
        raise dashboard_error(500, f"Amber does not support the transfer type {kind!r}.")
    if len(paths) > 1:
        raise dashboard_error(500, "Amber makes a transfer from one path; send one paths[] per transfer.")
    decoded = b64decode_lenient(paths[0])
    if decoded is None:
        raise dashboard_error(500, "A path (paths[]) cannot be decoded from base64.")
    location, path = split_location_path(decoded)
    try:
        location_uuid, relative = await transfer_source(up, location, path)
        spec = TransferFromLocation(name=name, location_uuid=location_uuid, path=relative,
                                    transfer_type=FROM_AM_TYPE[kind], auto_approve=False,
                                    processing_config=await processing_config_name(up, CLASSIC_PROCESSING_CONFIG))
        transfer = await up.transfer.create_transfer_from_location(spec)
    except (ServiceError, ValueError, ValidationError) as exc:
        raise dashboard_error(500, f"Copy failed: {reason_of(exc)}") from None
    folder = TYPE_FOLDERS.get(kind, "standardTransfer")
    directory = unit_directory(transfer.name, transfer.uuid)
    return {"message": "Copy successful.",
            "path": f"{SHARED_DIRECTORY}/watchedDirectories/activeTransfers/{folder}/{directory}/"}


@route(router, "/transfer/approve", ["POST"], Role.archivist, also=unanchored_router)
async def am_approve_transfer(request: Request, up: DashboardUpstream) -> dict[str, Any]:
    """Every error is 500, as in Archivematica (automation-tools relies on it)."""
    form = await request.form()
    directory = form.get("directory")
    kind = str(form.get("type") or "standard")
    if not isinstance(directory, str) or not directory.strip("/"):
        raise dashboard_error(500, "Please specify a transfer directory.")
    if kind not in FROM_AM_TYPE:
        raise dashboard_error(500, "Invalid transfer type.")
    transfer = await _awaiting(up, directory.strip("/"))
    if transfer is None:
        raise dashboard_error(500, "Unable to start the transfer.")
    try:
        await up.transfer.approve_transfer(transfer.uuid)
    except ServiceError as exc:
        raise dashboard_error(500, f"Unable to start the transfer: {reason_of(exc)}") from None
    return {"message": "Approval successful.", "uuid": str(transfer.uuid)}


async def _awaiting(up: Upstream, directory: str) -> TransferRead | None:
    """The transfer awaiting approval that `directory` names: `<name>-<uuid>` (what this API answers) or a name
    only one awaiting transfer has."""
    unit = uuid_at_end(directory)
    if unit is not None:
        transfer = await find_transfer(up, str(unit))
        return transfer if transfer is not None and transfer.status == TransferStatus.awaiting_approval else None
    matching = [t for t in await all_transfers(up, TransferStatus.awaiting_approval) if t.name == directory]
    return matching[0] if len(matching) == 1 else None
