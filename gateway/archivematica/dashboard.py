"""Archivematica's dashboard API (`/api/transfer/…`, `/api/ingest/…`, `/api/v2beta/…`,
`/api/processing-configuration/…`) over Amber's transfer and ingest services: unit status, lists, hiding, jobs,
processing configurations, and what Amber lacks. Starting transfers is in `transfers.py`.

Handlers translate and call the typed clients; every preservation rule stays in the services.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from clients.ingest import IngestRead, IngestStatus, TaskRead
from clients.transfer.schemas import FINISHED_STATUSES, TransferRead, TransferStatus
from gateway.archivematica import repository
from gateway.archivematica.auth import DashboardUser, dashboard_user
from gateway.archivematica.errors import ArchivematicaError, TranslatedRoute, dashboard_error, not_supported, reason_of
from gateway.archivematica.ids import SHARED_DIRECTORY, job_uuid, link_uuid, unit_directory
from gateway.archivematica.reads import PAGE, every_page, unit_or_none
from gateway.archivematica.routing import route
from gateway.archivematica.status import (
    HANDED_TO_INGEST,
    TRANSFER_DECISION_POINTS,
    am_type,
    ingest_finished,
    ingest_status,
    transfer_finished,
    transfer_status,
)
from gateway.archivematica.upstream import DashboardUpstream, Upstream
from servicekit.db import session_scope
from servicekit.http import ServiceError
from servicekit.ids import derived_id
from servicekit.roles import Role

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["archivematica"], dependencies=[Depends(dashboard_user)],
                   route_class=TranslatedRoute)
# archivematicaPhp calls dashboard routes under a bogus /api/v2/ prefix; Archivematica answers those whose URL
# patterns are unanchored, so they are served there too (the anchored ones, e.g. ingest/completed, are not).
unanchored_router = APIRouter(prefix="/api/v2", tags=["archivematica"], dependencies=[Depends(dashboard_user)],
                              route_class=TranslatedRoute)


# --- helpers ------------------------------------------------------------------------------------------------


async def all_transfers(up: Upstream, status: TransferStatus) -> list[TransferRead]:
    return await every_page(lambda limit, offset: up.transfer.list_transfers(status, limit=limit, offset=offset))


async def all_ingests(up: Upstream, status: IngestStatus) -> list[IngestRead]:
    return await every_page(lambda limit, offset: up.ingest.list_ingests(status, limit=limit, offset=offset))


async def all_tasks(up: Upstream, ingest: UUID, job: str) -> list[TaskRead]:
    return await every_page(lambda limit, offset: up.ingest.list_tasks(ingest, job, limit=limit, offset=offset))


async def find_transfer(up: Upstream, unit: str) -> TransferRead | None:
    return await unit_or_none(unit, up.transfer.get_transfer)


async def find_ingest(up: Upstream, unit: str) -> IngestRead | None:
    return await unit_or_none(unit, up.ingest.get_ingest)


async def require_transfer(up: Upstream, unit: str) -> TransferRead:
    transfer = await find_transfer(up, unit)
    if transfer is None:
        raise dashboard_error(400, f"Cannot fetch unitTransfer with UUID {unit}", type="transfer")
    return transfer


async def require_ingest(up: Upstream, unit: str) -> IngestRead:
    ingest = await find_ingest(up, unit)
    if ingest is None:
        raise dashboard_error(400, f"Cannot fetch unitSIP with UUID {unit}", type="SIP")
    return ingest


async def read_json(request: Request) -> dict[str, Any]:
    """The body as JSON whatever its Content-Type says (amclient sends none)."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise dashboard_error(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise dashboard_error(400, "The request body must be a JSON object.")
    return body


async def hidden(request: Request, units: list[UUID]) -> set[UUID]:
    result: set[UUID] = set()
    async for session in session_scope(request.app.state.sessions):
        result = await repository.hidden_among(session, units)
    return result


# --- status ---------------------------------------------------------------------------------------------------


@route(router, "/transfer/status/{unit}", ["GET"], Role.reader, also=unanchored_router)
async def am_transfer_status(unit: str, up: DashboardUpstream) -> dict[str, Any]:
    transfer = await require_transfer(up, unit)
    ingest = await up.ingest.get_ingest(transfer.ingest_uuid) if transfer.ingest_uuid else None
    derived = transfer_status(transfer, ingest)
    directory = unit_directory(transfer.name, transfer.uuid)
    body: dict[str, Any] = {
        "type": "transfer", "uuid": str(transfer.uuid), "name": transfer.name, "directory": directory,
        "path": f"{SHARED_DIRECTORY}/watchedDirectories/SIPCreation/completedTransfers/{directory}/",
        "microservice": derived.microservice, "status": derived.status,
        "message": f"Fetched status for {transfer.uuid} successfully.",
    }
    if derived.sip_uuid is not None:
        body["sip_uuid"] = derived.sip_uuid
    return body


@route(router, "/ingest/status/{unit}", ["GET"], Role.reader, also=unanchored_router)
async def am_ingest_status(unit: str, up: DashboardUpstream) -> dict[str, Any]:
    ingest = await require_ingest(up, unit)
    derived = ingest_status(ingest)
    directory = unit_directory(ingest.name, ingest.uuid)
    return {
        "type": "SIP", "uuid": str(ingest.uuid), "name": ingest.name, "directory": directory,
        "path": f"{SHARED_DIRECTORY}/currentlyProcessing/{directory}/",
        "microservice": derived.microservice, "status": derived.status,
        "message": f"Fetched status for {ingest.uuid} successfully.",
    }


# --- lists ----------------------------------------------------------------------------------------------------


@route(router, "/transfer/completed", ["GET"], Role.reader, also=unanchored_router)
async def am_completed_transfers(up: DashboardUpstream) -> dict[str, Any]:
    # Handed to ingest = COMPLETE, except while the ingest waits on a decision Archivematica puts in the transfer.
    waiting = {i.uuid for i in await all_ingests(up, IngestStatus.awaiting_decision)
               if i.decision is not None and i.decision.point in TRANSFER_DECISION_POINTS}
    # The transfer's own status follows its ingest (stored, failed, cancelled…): any transfer with an ingest counts.
    handed = [t for status in (*HANDED_TO_INGEST, TransferStatus.failed, TransferStatus.rejected)
              for t in await all_transfers(up, status)]
    results = [str(t.uuid) for t in handed
               if t.ingest_uuid is not None and t.ingest_uuid not in waiting and not t.hidden]
    return {"message": "Fetched completed transfers successfully.", "results": results}


@route(router, "/ingest/completed", ["GET"], Role.reader)
async def am_completed_ingests(request: Request, up: DashboardUpstream) -> dict[str, Any]:
    stored = await all_ingests(up, IngestStatus.stored)
    gone = await hidden(request, [i.uuid for i in stored])
    return {"message": "Fetched completed ingests successfully.",
            "results": [str(i.uuid) for i in stored if i.uuid not in gone]}


@route(router, "/transfer/unapproved", ["GET"], Role.reader, also=unanchored_router)
async def am_unapproved_transfers(up: DashboardUpstream) -> dict[str, Any]:
    results = [{"type": am_type(t), "directory": unit_directory(t.name, t.uuid), "uuid": str(t.uuid)}
               for t in await all_transfers(up, TransferStatus.awaiting_approval)]
    return {"message": "Fetched unapproved transfers successfully.", "results": results}


@route(router, "/ingest/waiting", ["GET"], Role.reader, also=unanchored_router)
async def am_waiting_units(up: DashboardUpstream) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for transfer in await all_transfers(up, TransferStatus.awaiting_approval):
        results.append({"sip_directory": unit_directory(transfer.name, transfer.uuid), "sip_uuid": str(transfer.uuid),
                        "sip_name": transfer.name, "microservice": transfer_status(transfer, None).microservice})
    for ingest in await all_ingests(up, IngestStatus.awaiting_decision):
        results.append({"sip_directory": unit_directory(ingest.name, ingest.uuid), "sip_uuid": str(ingest.uuid),
                        "sip_name": ingest.name, "microservice": ingest_status(ingest).microservice})
    return {"message": "Fetched units successfully.", "results": results}


# --- hide -----------------------------------------------------------------------------------------------------


async def _hide_transfer(up: Upstream, transfer: TransferRead) -> bool:
    if transfer.hidden or not transfer_finished(transfer):
        return False
    await up.transfer.hide_transfer(transfer.uuid)
    return True


async def _hide_ingest(request: Request, user: DashboardUser, ingest: IngestRead) -> bool:
    if not ingest_finished(ingest):
        return False
    done = False
    async for session in session_scope(request.app.state.sessions):
        done = await repository.hide(session, ingest.uuid, "SIP", user.username)
    return done


@route(router, "/transfer/{unit}/delete", ["DELETE"], Role.archivist)
async def am_hide_transfer(unit: str, up: DashboardUpstream) -> JSONResponse:
    transfer = await require_transfer(up, unit)
    removed = await _hide_transfer(up, transfer)
    return JSONResponse({"removed": removed}, status_code=200 if removed else 409)


@route(router, "/ingest/{unit}/delete", ["DELETE"], Role.archivist)
async def am_hide_ingest(unit: str, request: Request, user: DashboardUser, up: DashboardUpstream) -> JSONResponse:
    ingest = await require_ingest(up, unit)
    removed = await _hide_ingest(request, user, ingest)
    return JSONResponse({"removed": removed}, status_code=200 if removed else 409)


@route(router, "/transfer/delete", ["DELETE"], Role.archivist)
async def am_hide_finished_transfers(up: DashboardUpstream) -> dict[str, Any]:
    removed: list[str] = []
    for status in sorted(FINISHED_STATUSES):
        for transfer in await all_transfers(up, status):
            if await _hide_transfer(up, transfer):
                removed.append(str(transfer.uuid))
    return {"removed": removed}


@route(router, "/ingest/delete", ["DELETE"], Role.archivist)
async def am_hide_finished_ingests(request: Request, user: DashboardUser, up: DashboardUpstream) -> dict[str, Any]:
    removed: list[str] = []
    for status in (IngestStatus.stored, IngestStatus.failed, IngestStatus.rejected, IngestStatus.backlogged):
        for ingest in await all_ingests(up, status):
            if await _hide_ingest(request, user, ingest):
                removed.append(str(ingest.uuid))
    return {"removed": removed}


# --- jobs, processing configurations ----------------------------------------------------------------------------

JOB_STATUSES = {"running": "PROCESSING", "completed": "COMPLETE", "failed": "FAILED"}


@route(router, "/v2beta/jobs/{unit}", ["GET"], Role.reader)
async def am_jobs(unit: str, request: Request, up: DashboardUpstream) -> list[dict[str, Any]]:
    ingest = await find_ingest(up, unit)
    if ingest is None:
        transfer = await find_transfer(up, unit)
        if transfer is not None and transfer.ingest_uuid is not None:
            ingest = await up.ingest.get_ingest(transfer.ingest_uuid)
    if ingest is None:
        raise dashboard_error(400, f"No jobs found for unit: {unit}")
    jobs = (await up.ingest.list_jobs(ingest.uuid, limit=PAGE)).items
    if not jobs:
        raise dashboard_error(400, f"No jobs found for unit: {unit}")
    query = request.query_params
    detailed = "detailed" in query
    microservice = query.get("microservice", "").removeprefix("Microservice:").strip()
    name = query.get("name", "").removeprefix("Job:").strip()
    wanted_link = query.get("link_uuid")
    answer = []
    for job in jobs:
        if (microservice and job.microservice != microservice) or (name and job.name != name) \
                or (wanted_link and str(link_uuid(job.key)) != wanted_link):
            continue
        tasks = await all_tasks(up, ingest.uuid, job.key)
        answer.append({
            "uuid": str(job_uuid(ingest.uuid, job.key)), "name": job.name,
            "status": JOB_STATUSES.get(job.status.value, "UNKNOWN"), "microservice": job.microservice,
            "link_uuid": str(link_uuid(job.key)),
            "tasks": [_task(ingest.uuid, job.key, task, detailed) for task in tasks],
        })
    if ingest.decision is not None and ingest.status == IngestStatus.awaiting_decision and not (
            microservice or name or wanted_link):
        # The decision awaited is the newest job in Archivematica (status USER_INPUT); Amber keeps it on the ingest.
        key = f"decision-{ingest.decision.point}"
        answer.append({"uuid": str(job_uuid(ingest.uuid, key)), "name": ingest.decision.question,
                       "status": "USER_INPUT", "microservice": ingest.decision.question,
                       "link_uuid": str(link_uuid(key)), "tasks": []})
    return answer


def _task(ingest: UUID, key: str, task: TaskRead, detailed: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"uuid": str(derived_id("archivematica task", ingest, key, task.path)),
                            "exit_code": task.exit_code}
    if detailed:
        started, ended = task.started_at, task.finished_at
        seconds = int((ended - started).total_seconds()) if started and ended else None
        body.update({
            "file_uuid": str(task.file_uuid) if task.file_uuid else None, "file_name": task.path.rsplit("/", 1)[-1],
            "time_created": _stamp(started), "time_started": _stamp(started), "time_ended": _stamp(ended),
            "duration": ("< 1" if seconds is not None and seconds < 1 else seconds),
        })
    return body


def _stamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S") if value is not None else None


@route(router, "/v2beta/task/{task}", ["GET"], Role.reader)
async def am_task(task: str) -> None:
    raise not_supported("reading a task by its UUID; /api/v2beta/jobs/<unit>/?detailed lists every task")


@route(router, "/processing-configuration", ["GET"], Role.reader, also=unanchored_router)
async def am_processing_configs(up: DashboardUpstream) -> dict[str, Any]:
    return {"processing_configurations": sorted(c.name for c in await up.ingest.list_processing_configs())}


@route(router, "/processing-configuration/{name}", ["GET"], Role.reader, also=unanchored_router)
async def am_processing_config(name: str, request: Request, up: DashboardUpstream) -> Response:
    accept = request.headers.get("accept", "*/*")
    if "*/*" not in accept and "xml" not in accept:
        raise dashboard_error(415, "This resource is XML; accept */* or an XML type.")
    try:
        xml = await up.ingest.export_processing_config_xml(name)
    except ServiceError as exc:
        if exc.status in (404, 422):
            raise _no_such_config(name) from None
        raise
    return Response(xml, media_type="text/xml")


@route(router, "/processing-configuration/{name}", ["DELETE"], Role.admin, also=unanchored_router)
async def am_delete_processing_config(name: str, up: DashboardUpstream) -> dict[str, Any]:
    try:
        await up.ingest.request("DELETE", f"/processing-configurations/{name}")
    except ServiceError as exc:
        if exc.status in (404, 422):
            raise _no_such_config(name) from None
        raise dashboard_error(400, reason_of(exc)) from None
    return {"success": True}


def _no_such_config(name: str) -> ArchivematicaError:
    return ArchivematicaError(404, {"success": False, "error": f'No such processing config "{name}".'})


# --- what Amber does not have -----------------------------------------------------------------------------------

UNSUPPORTED: list[tuple[str, list[str], str]] = [
    ("/transfer/reingest", ["POST"], "re-ingest"),
    ("/ingest/reingest", ["POST"], "re-ingest"),
    ("/ingest/reingest/approve", ["POST"], "re-ingest"),
    ("/ingest/copy_metadata_files", ["POST"], "adding metadata files to a SIP (use the metadata API)"),
    ("/v2beta/validate/{validator}", ["POST"], "Archivematica's CSV validators (Avalon, rights)"),
    ("/administration/dips/atom/levels", ["GET"], "DIP upload to AtoM"),
    ("/administration/dips/atom/fetch_levels", ["GET"], "DIP upload to AtoM"),
    ("/filesystem/administration/dips/atom/levels", ["GET"], "DIP upload to AtoM"),
    ("/filesystem/metadata", ["GET", "POST"], "arrangement levels of description"),
]


def _unsupported(feature: str) -> Any:
    async def handler() -> None:
        raise not_supported(feature)

    return handler


for _path, _methods, _feature in UNSUPPORTED:
    route(router, _path, _methods, Role.reader)(_unsupported(_feature))
