"""Archivematica's Storage Service API v2 (`/api/v2/file/`, `location/`, `pipeline/`, `space/`) over Amber's
storage and metadata services. Lists come in tastypie's envelope with `meta.next` paths."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse

from clients.storage.schemas import DeletionRequestStatus, LocationCreate, LocationRead, PackageRead, PackageType
from gateway.archivematica.auth import storage_user
from gateway.archivematica.errors import ArchivematicaError, TranslatedRoute
from gateway.archivematica.ids import b64decode_lenient, b64encode, parse_uuid, pipeline_uuid, uuid_at_end
from gateway.archivematica.reads import every_page, unit_or_none
from gateway.archivematica.routing import route
from gateway.archivematica.shapes import (
    PACKAGE_TYPES_BY_NAME,
    PURPOSES_BY_CODE,
    location_object,
    matches,
    package_object,
    page_of,
    pipeline_object,
    space_object,
)
from gateway.archivematica.upstream import StorageUpstream, Upstream
from servicekit.http import ServiceError
from servicekit.roles import Role

router = APIRouter(prefix="/api/v2", tags=["archivematica"], dependencies=[Depends(storage_user)],
                   route_class=TranslatedRoute)
PAGING = ("limit", "offset", "format", "username", "api_key")
NOT_FOUND = ArchivematicaError(404, None)


def filters(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k not in PAGING}


def listing(request: Request, objects: list[dict[str, Any]]) -> dict[str, Any]:
    # amclient sends a literal `{}` query (`?%7B%7D`): not a filter, and not worth repeating in `next`.
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "{}"]
    return page_of([o for o in objects if matches(o, filters(request))], request.url.path, query)


async def locations_by_uuid(up: Upstream) -> dict[UUID, LocationRead]:
    return {location.uuid: location for location in await up.storage.list_locations()}


async def get_package_or_404(up: Upstream, unit: str) -> PackageRead:
    package = await unit_or_none(unit, up.storage.get_package)
    if package is None:
        raise NOT_FOUND
    return package


def pipeline_of(up: Upstream) -> UUID:
    return pipeline_uuid(up.settings)


# --- packages ---------------------------------------------------------------------------------------------------


async def all_packages(up: Upstream, kind: PackageType) -> list[PackageRead]:
    return await every_page(lambda limit, offset: up.storage.list_packages(kind, limit=limit, offset=offset))


@route(router, "/file", ["GET"], Role.reader)
async def am_list_packages(request: Request, up: StorageUpstream) -> dict[str, Any]:
    wanted = request.query_params.get("package_type")
    if wanted is None:
        kinds = list(PackageType)
    elif wanted in PACKAGE_TYPES_BY_NAME:
        kinds = [PACKAGE_TYPES_BY_NAME[wanted]]
    else:
        kinds = []  # SIP, AIC, file, deposit: Amber stores none
    packages: list[PackageRead] = []
    single = parse_uuid(request.query_params.get("uuid", ""))
    if single is not None:
        try:
            packages = [await up.storage.get_package(single)]
        except ServiceError as exc:
            if exc.status != 404:
                raise
    else:
        for kind in kinds:
            packages += await all_packages(up, kind)
    locations = await locations_by_uuid(up)
    purpose = request.query_params.get("current_location__purpose")
    if purpose is not None:
        packages = [p for p in packages if p.location_uuid in locations
                    and location_object(locations[p.location_uuid], pipeline_of(up))["purpose"] == purpose]
    objects = [package_object(p, locations, pipeline_of(up)) for p in packages]
    return listing(request, objects)


@route(router, "/file/{unit}", ["GET"], Role.reader)
async def am_package(unit: str, up: StorageUpstream) -> dict[str, Any]:
    package = await get_package_or_404(up, unit)
    return package_object(package, await locations_by_uuid(up), pipeline_of(up))


async def _relay(up: Upstream, request: Request, url: str, params: dict[str, str] | None = None) -> Response:
    """Stream a file from the storage service as it comes, headers (Content-Disposition, ETag, length) kept."""
    client = up.storage.http
    upstream_request = client.build_request("GET", url, params=params)
    response = await client.send(upstream_request, stream=True)
    if response.status_code >= 400:
        text = (await response.aread()).decode("utf-8", "replace")
        await response.aclose()
        detail = text
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(text).get("detail") or text
        if response.status_code == 404:
            raise ArchivematicaError(404, str(detail))
        raise ArchivematicaError(response.status_code if response.status_code < 500 else 502, str(detail))
    headers = {k: v for k, v in response.headers.items()
               if k.lower() in ("content-disposition", "content-length", "etag", "last-modified", "accept-ranges")}
    media = response.headers.get("content-type", "application/octet-stream")
    if request.method == "HEAD":
        await response.aclose()
        return Response(status_code=200, headers=headers, media_type=media)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        finally:
            await response.aclose()

    return StreamingResponse(body(), headers=headers, media_type=media)


@route(router, "/file/{unit}/download", ["GET", "HEAD"], Role.reader)
async def am_download_package(unit: str, request: Request, up: StorageUpstream) -> Response:
    package = await get_package_or_404(up, unit)
    return await _relay(up, request, f"/packages/{package.uuid}/download")


@route(router, "/file/{unit}/extract_file", ["GET", "HEAD"], Role.reader)
async def am_extract_file(unit: str, request: Request, up: StorageUpstream) -> Response:
    relative = request.query_params.get("relative_path_to_file")
    if not relative:
        raise ArchivematicaError(400, "relative_path_to_file is required")
    package = await get_package_or_404(up, unit)
    if package.package_type != PackageType.aip:
        raise ArchivematicaError(501, "Amber extracts files from AIPs only")
    # Archivematica's path starts with the AIP's folder (`<name>-<uuid>/data/METS.<uuid>.xml`); Amber's is the
    # path inside the bag.
    head, sep, rest = relative.lstrip("/").partition("/")
    if sep and uuid_at_end(head) == package.uuid:
        relative = rest
    return await _relay(up, request, f"/aips/{package.uuid}/files/{relative}")


@route(router, "/file/{unit}/pointer_file", ["GET"], Role.reader)
async def am_pointer_file(unit: str, up: StorageUpstream) -> Response:
    package = await get_package_or_404(up, unit)
    try:
        pointer = await up.metadata.pointer_file(package.uuid)
    except ServiceError as exc:
        if exc.status == 404:
            raise NOT_FOUND from None
        raise
    return Response(pointer, media_type="application/xml")


async def read_json(request: Request) -> dict[str, Any]:
    """The body as JSON: the Storage Service assumes JSON whatever the Content-Type (amclient sends none)."""
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ArchivematicaError(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ArchivematicaError(400, "The request body must be a JSON object")
    return body


@route(router, "/file/{unit}/delete_aip", ["POST"], Role.archivist)
async def am_delete_aip(unit: str, request: Request, up: StorageUpstream) -> JSONResponse:
    """A deletion request, which Amber's approval flow then handles (another user approves or rejects it)."""
    body = await read_json(request)
    missing = [f for f in ("event_reason", "pipeline", "user_id", "user_email") if body.get(f) in (None, "")]
    if missing:
        raise ArchivematicaError(400, f"All of event_reason, pipeline, user_id and user_email are required; "
                                      f"missing: {', '.join(missing)}")
    package = await get_package_or_404(up, unit)
    if package.package_type != PackageType.aip:
        raise ArchivematicaError(405, "Only AIPs can be deleted through this request")
    pending = await up.storage.list_deletion_requests(DeletionRequestStatus.pending)
    if any(request.package_uuid == package.uuid for request in pending):
        return JSONResponse({"message": "A deletion request already exists for this AIP."}, status_code=200)
    reason = f"{body['event_reason']} (requested by {body['user_email']}, user {body['user_id']})"
    try:
        created = await up.storage.request_aip_deletion(package.uuid, str(reason)[:4000])
    except ServiceError as exc:
        raise ArchivematicaError(exc.status or 502, {"error": True, "message": exc.detail or exc.title}) from None
    return JSONResponse({"message": "Delete request created successfully.", "id": str(created.uuid)},
                        status_code=202)


@route(router, "/file/{unit}/check_fixity", ["GET"], Role.archivist)
async def am_check_fixity(unit: str, up: StorageUpstream) -> dict[str, Any]:
    package = await get_package_or_404(up, unit)
    if package.package_type != PackageType.aip:
        return {"success": None, "message": "Unable to scan; package is not a bag (AIP or AIC)", "failures": {},
                "timestamp": None}
    report = await up.storage.check_aip_fixity(package.uuid)
    return {
        "success": report.success, "message": "; ".join(report.errors),
        "failures": {"files": {
            "missing": [{"path": p.path, "message": "Missing file"} for p in report.missing],
            "changed": [{"path": p.path, "expected": p.expected, "actual": p.actual, "hash_type": p.algorithm,
                         "message": "Checksum mismatch"} for p in report.changed],
            "untracked": [{"path": p.path, "message": "Untracked file"} for p in report.untracked],
        }},
        "timestamp": report.checked_at.isoformat(),
    }


@route(router, "/file/{unit}/reingest", ["POST"], Role.archivist)
async def am_reingest(unit: str) -> JSONResponse:
    return JSONResponse({"error": True, "status_code": 501, "message": "Amber does not support re-ingest."},
                        status_code=501)


@route(router, "/file/{unit}/recover_aip", ["POST"], Role.admin)
async def am_recover_request(unit: str) -> JSONResponse:
    return JSONResponse({"error": True, "message": "Amber recovers a damaged AIP from its replicas itself "
                         "(POST /api/v1/aips/{uuid}/recover); there is no recovery request."}, status_code=501)


# --- locations, spaces, pipelines ---------------------------------------------------------------------------------


@route(router, "/location", ["GET"], Role.reader)
async def am_list_locations(request: Request, up: StorageUpstream) -> dict[str, Any]:
    objects = [location_object(loc, pipeline_of(up)) for loc in await up.storage.list_locations()]
    return listing(request, objects)


@route(router, "/location/default/{purpose}", ["GET"], Role.reader)
async def am_default_location(purpose: str, up: StorageUpstream) -> Response:
    wanted = PURPOSES_BY_CODE.get(purpose)
    chosen = [loc for loc in await up.storage.list_locations(wanted) if loc.is_default] if wanted else []
    if not chosen:
        raise NOT_FOUND
    return RedirectResponse(f"/api/v2/location/{chosen[0].uuid}/", status_code=302)


async def get_location_or_404(up: Upstream, unit: str) -> LocationRead:
    location = await unit_or_none(unit, up.storage.get_location)
    if location is None:
        raise NOT_FOUND
    return location


@route(router, "/location/{unit}", ["GET"], Role.reader)
async def am_location(unit: str, up: StorageUpstream) -> dict[str, Any]:
    return location_object(await get_location_or_404(up, unit), pipeline_of(up))


@route(router, "/location/{unit}/browse", ["GET"], Role.archivist)
async def am_browse_location(unit: str, request: Request, up: StorageUpstream) -> dict[str, Any]:
    location = await get_location_or_404(up, unit)
    path = b64decode_lenient(request.query_params.get("path", "")) or ""
    root = location.path.rstrip("/") + "/"
    relative = path[len(root):] if path.startswith(root) else path
    try:
        listed = await up.storage.browse_location(location.uuid, relative.strip("/"))
    except ServiceError as exc:
        if exc.status in (404, 422, 400):
            raise ArchivematicaError(404, {"error": True, "message": exc.detail or exc.title}) from None
        raise
    entries, directories, properties = [], [], {}
    for entry in listed.entries:
        name = b64encode(entry.name)
        entries.append(name)
        if entry.type.value == "dir":
            directories.append(name)
            properties[name] = {"object count": entry.file_count or 0, "size": entry.size}
        else:
            properties[name] = {"size": entry.size}
    return {"entries": entries, "directories": directories, "properties": properties}


@route(router, "/location", ["POST"], Role.admin, status_code=201)
async def am_create_location(request: Request, up: StorageUpstream) -> JSONResponse:
    """Amber's rules apply: administrators only, and only inside the roots the operator allows."""
    body = await read_json(request)
    purpose = PURPOSES_BY_CODE.get(str(body.get("purpose")))
    relative = body.get("relative_path")
    if purpose is None or not isinstance(relative, str) or not relative:
        raise ArchivematicaError(400, {"error": True, "message": "purpose (one of "
                                       f"{', '.join(sorted(PURPOSES_BY_CODE))}) and relative_path are required"})
    space = body.get("space")
    if space:
        spaces = {loc.space_uuid for loc in await up.storage.list_locations()}
        if parse_uuid(str(space).rstrip("/").rsplit("/", 1)[-1]) not in spaces:
            raise ArchivematicaError(400, {"error": True, "message": f"Unknown space {space}"})
    try:
        spec = LocationCreate(purpose=purpose, path=relative, description=str(body.get("description") or ""),
                              is_default=bool(body.get("default", False)))
        created = await up.storage.create_location(spec)
    except ServiceError as exc:
        raise ArchivematicaError(400 if exc.status and exc.status < 500 else 502,
                                 {"error": True, "message": exc.detail or exc.title}) from None
    except ValueError as exc:
        raise ArchivematicaError(400, {"error": True, "message": str(exc)}) from None
    return JSONResponse(location_object(created, pipeline_of(up)), status_code=201)


@route(router, "/space", ["GET"], Role.reader)
async def am_list_spaces(request: Request, up: StorageUpstream) -> dict[str, Any]:
    locations = await up.storage.list_locations()
    spaces = sorted({loc.space_uuid for loc in locations}, key=str)
    return listing(request, [space_object(space, locations) for space in spaces])


@route(router, "/space/{unit}", ["GET"], Role.reader)
async def am_space(unit: str, up: StorageUpstream) -> dict[str, Any]:
    locations = await up.storage.list_locations()
    ident = parse_uuid(unit)
    if ident is None or ident not in {loc.space_uuid for loc in locations}:
        raise NOT_FOUND
    return space_object(ident, locations)


@route(router, "/pipeline", ["GET"], Role.reader)
async def am_list_pipelines(request: Request, up: StorageUpstream) -> dict[str, Any]:
    return listing(request, [pipeline_object(pipeline_of(up), request.url.hostname or "localhost")])


@route(router, "/pipeline/{unit}", ["GET"], Role.reader)
async def am_pipeline(unit: str, request: Request, up: StorageUpstream) -> dict[str, Any]:
    if parse_uuid(unit) != pipeline_of(up):
        raise NOT_FOUND
    return pipeline_object(pipeline_of(up), request.url.hostname or "localhost")


