"""Archival storage: search, one AIP from its METS record (files, formats, events, rights, descriptive metadata,
replicas and DIPs), streamed downloads, fixity checks and their history, and deletion requests and decisions."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from starlette.background import BackgroundTask

from gateway.dashboard.api import ApiError
from gateway.dashboard.deps import ActingViewerDep, Viewer, ViewerDep
from gateway.dashboard.pages import PREFIX, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = 50
PASSED_HEADERS = ("content-type", "content-length", "content-disposition", "etag", "last-modified")


@router.get("/aips", response_class=HTMLResponse)
async def dashboard_aips(
    request: Request, viewer: ViewerDep, q: str = "", format: str = "",
    date_from: str = "", date_to: str = "", offset: int = 0,
) -> HTMLResponse:
    """Words, a format (PUID or name) or dates search the index; without them, the stored AIPs newest first."""
    searching = bool(q or format or date_from or date_to)
    if searching:
        found = await viewer.api.get(
            "/search", q=q, kind="package", date_from=date_from, date_to=date_to, limit=PAGE, offset=max(offset, 0),
            **({"puid": format} if "/" in format else {"format_name": format}),
        )
    else:
        found = await viewer.api.get("/aips", limit=PAGE, offset=max(offset, 0))
    return render(request, "aips.html", viewer, found=found, searching=searching, q=q, format=format,
                  date_from=date_from, date_to=date_to, offset=offset, page=PAGE)


async def optional(viewer: Viewer, path: str, **params: Any) -> Any:
    """Parts of the record that may not exist (a package with no PREMIS record, no replicas)."""
    try:
        return await viewer.api.get(path, **params)
    except ApiError as error:
        if error.status == 404:
            return None
        raise


@router.get("/aips/{aip_uuid}", response_class=HTMLResponse)
async def dashboard_aip(request: Request, viewer: ViewerDep, aip_uuid: UUID, files_offset: int = 0) -> HTMLResponse:
    aip = await viewer.api.get(f"/aips/{aip_uuid}")
    premis = f"/premis/packages/{aip_uuid}"
    record, files, events, fixity, descriptive, rights, replicas, dips, deletions = await asyncio.gather(
        optional(viewer, premis),
        optional(viewer, f"{premis}/files", limit=PAGE, offset=max(files_offset, 0)),
        optional(viewer, f"{premis}/events", limit=100),
        optional(viewer, f"{premis}/events", type="fixity check", object_uuid=str(aip_uuid), limit=50),
        optional(viewer, f"{premis}/descriptive"),
        optional(viewer, f"{premis}/rights"),
        optional(viewer, f"/aips/{aip_uuid}/replicas"),
        optional(viewer, "/packages", package_type="dip", related_to=str(aip_uuid), limit=PAGE),
        viewer.api.get("/deletion-requests"),
    )
    formats: dict[str, int] = {}
    for item in (files or {}).get("items", []):
        label = f"{item.get('format_name') or 'Unidentified'} ({item.get('puid') or '-'})"
        formats[label] = formats.get(label, 0) + 1
    return render(
        request, "aip.html", viewer, aip=aip, record=record, files=files, events=events, fixity=fixity,
        descriptive=descriptive, rights=rights, replicas=replicas, dips=(dips or {}).get("items", []), formats=formats,
        deletions=[d for d in deletions if d["package_uuid"] == str(aip_uuid)], files_offset=files_offset, page=PAGE,
    )


async def relay(viewer: Viewer, path: str) -> StreamingResponse:
    """The API's download, streamed to the browser as it arrives (never held in memory)."""
    response = await viewer.api.open(path)
    headers = {name: response.headers[name] for name in PASSED_HEADERS if name in response.headers}
    return StreamingResponse(response.aiter_raw(), status_code=response.status_code, headers=headers,
                             background=BackgroundTask(response.aclose))


@router.get("/aips/{aip_uuid}/download")
async def dashboard_download_aip(viewer: ViewerDep, aip_uuid: UUID) -> StreamingResponse:
    return await relay(viewer, f"/aips/{aip_uuid}/download")


@router.get("/aips/{aip_uuid}/pointer.xml")
async def dashboard_aip_pointer(viewer: ViewerDep, aip_uuid: UUID) -> StreamingResponse:
    return await relay(viewer, f"/aips/{aip_uuid}/pointer")


@router.get("/aips/{aip_uuid}/files/{path:path}")
async def dashboard_download_aip_file(viewer: ViewerDep, aip_uuid: UUID, path: str) -> StreamingResponse:
    return await relay(viewer, f"/aips/{aip_uuid}/files/{path}")


@router.get("/packages/{package_uuid}/download")
async def dashboard_download_package(viewer: ViewerDep, package_uuid: UUID) -> StreamingResponse:
    return await relay(viewer, f"/packages/{package_uuid}/download")


@router.post("/aips/{aip_uuid}/fixity")
async def dashboard_check_fixity(viewer: ActingViewerDep, aip_uuid: UUID) -> RedirectResponse:
    await viewer.api.post(f"/aips/{aip_uuid}/fixity")
    return redirect(f"/aips/{aip_uuid}#fixity")


@router.post("/aips/{aip_uuid}/deletion-requests")
async def dashboard_request_deletion(
    viewer: ActingViewerDep, aip_uuid: UUID, reason: Annotated[str, Form()]
) -> RedirectResponse:
    await viewer.api.post(f"/aips/{aip_uuid}/deletion-requests", {"reason": reason})
    return redirect(f"/aips/{aip_uuid}#deletion")


@router.get("/deletions", response_class=HTMLResponse)
async def dashboard_deletions(request: Request, viewer: ViewerDep, status: str = "") -> HTMLResponse:
    deletions = await viewer.api.get("/deletion-requests", status=status)
    return render(request, "deletions.html", viewer, deletions=deletions, status=status)


@router.post("/deletions/{request_uuid}/{verdict}")
async def dashboard_decide_deletion(
    viewer: ActingViewerDep, request_uuid: UUID, verdict: str, note: Annotated[str, Form()] = ""
) -> RedirectResponse:
    if verdict not in ("approve", "reject"):
        raise ApiError(404, "Not Found", "A deletion request is approved or rejected.")
    await viewer.api.post(f"/deletion-requests/{request_uuid}/{verdict}", {"note": note})
    return redirect("/deletions")
