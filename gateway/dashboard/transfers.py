"""Transfers: the list with approval, a new transfer from a transfer-source location (browsed folder by folder),
and the resumable upload the browser drives (`static/upload.js`), relayed chunk by chunk to the API."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from gateway.dashboard.api import UNBOUNDED
from gateway.dashboard.deps import ActingViewerDep, Viewer, ViewerDep
from gateway.dashboard.pages import PREFIX, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = 50


async def config_names(viewer: Viewer) -> list[str]:
    return [config["name"] for config in await viewer.api.get("/processing-configurations")]


@router.get("/transfers", response_class=HTMLResponse)
async def dashboard_transfers(request: Request, viewer: ViewerDep, status: str = "", offset: int = 0) -> HTMLResponse:
    transfers = await viewer.api.get("/transfers", status=status, limit=PAGE, offset=max(offset, 0))
    return render(request, "transfers.html", viewer, transfers=transfers, status=status, offset=offset, page=PAGE)


@router.get("/transfers/new", response_class=HTMLResponse)
async def dashboard_new_transfer(
    request: Request, viewer: ViewerDep, location: UUID | None = None, path: str = ""
) -> HTMLResponse:
    sources: list[dict[str, Any]] = []
    listing = None
    if viewer.archivist:
        sources = await viewer.api.get("/locations", purpose="transfer_source")
        if location is None and sources:
            location = UUID(sources[0]["uuid"])
        if location is not None:
            listing = await viewer.api.get(f"/locations/{location}/browse", path=path)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    return render(request, "transfer_new.html", viewer, configs=await config_names(viewer), sources=sources,
                  location=location, path=path, parent=parent, listing=listing)


@router.post("/transfers")
async def dashboard_start_transfer(
    viewer: ActingViewerDep, location: Annotated[UUID, Form()], path: Annotated[str, Form()],
    name: Annotated[str, Form()], processing_config: Annotated[str, Form()],
    auto_approve: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    transfer = await viewer.api.post("/transfers", {
        "name": name, "location_uuid": str(location), "path": path, "processing_config": processing_config,
        "auto_approve": auto_approve,
    })
    return redirect(f"/transfers/{transfer['uuid']}")


@router.get("/transfers/{transfer_uuid}", response_class=HTMLResponse)
async def dashboard_transfer(request: Request, viewer: ViewerDep, transfer_uuid: UUID) -> HTMLResponse:
    transfer = await viewer.api.get(f"/transfers/{transfer_uuid}")
    return render(request, "transfer.html", viewer, transfer=transfer,
                  polling=transfer["status"] in ("received", "ingesting"))


@router.post("/transfers/{transfer_uuid}/approve")
async def dashboard_approve_transfer(viewer: ActingViewerDep, transfer_uuid: UUID) -> RedirectResponse:
    await viewer.api.post(f"/transfers/{transfer_uuid}/approve", {})
    return redirect(f"/transfers/{transfer_uuid}")


@router.post("/transfers/{transfer_uuid}/reject")
async def dashboard_reject_transfer(
    viewer: ActingViewerDep, transfer_uuid: UUID, reason: Annotated[str, Form()] = ""
) -> RedirectResponse:
    await viewer.api.post(f"/transfers/{transfer_uuid}/reject", {"reason": reason or None})
    return redirect(f"/transfers/{transfer_uuid}")


# The upload relay: JSON in, JSON out, for upload.js. Chunks stream through; nothing is held whole.

@router.post("/uploads")
async def dashboard_open_upload(request: Request, viewer: ActingViewerDep) -> JSONResponse:
    return JSONResponse(await viewer.api.post("/uploads", await request.json()), status_code=201)


@router.get("/uploads/{upload_uuid}")
async def dashboard_upload_offset(viewer: ViewerDep, upload_uuid: UUID) -> JSONResponse:
    return JSONResponse(await viewer.api.get(f"/uploads/{upload_uuid}"))


@router.put("/uploads/{upload_uuid}")
async def dashboard_upload_chunk(request: Request, viewer: ActingViewerDep, upload_uuid: UUID) -> JSONResponse:
    headers = {"Content-Type": "application/octet-stream", "Content-Range": request.headers.get("content-range", "")}
    if length := request.headers.get("content-length"):
        headers["Content-Length"] = length
    async with viewer.api.stream("PUT", f"/uploads/{upload_uuid}", content=request.stream(), headers=headers) as answer:
        return JSONResponse((await answer.aread()) and answer.json())


@router.post("/uploads/{upload_uuid}/complete")
async def dashboard_complete_upload(viewer: ActingViewerDep, upload_uuid: UUID) -> JSONResponse:
    """Answered once the transfer service has checked and unpacked every byte: a minute or more for gigabytes."""
    completed = await viewer.api.request("POST", f"/uploads/{upload_uuid}/complete", timeout=UNBOUNDED)
    return JSONResponse(completed.json(), status_code=201)
