"""Processing: the live list of ingests, one ingest with its jobs and tasks, and the archivist's actions on it
(answer a decision, cancel, retry, clean up). Lists refresh by polling their fragment."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from clients.ingest.schemas import CLEANABLE_STATUSES, FINAL_STATUSES, RETRYABLE_STATUSES
from gateway.dashboard.deps import ActingViewerDep, ViewerDep
from gateway.dashboard.pages import PREFIX, redirect, render, wants_fragment

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = 50


def is_active(ingest: dict[str, Any]) -> bool:
    return ingest["status"] not in FINAL_STATUSES


@router.get("/", response_class=HTMLResponse)
async def dashboard_home() -> RedirectResponse:
    return redirect("/processing")


@router.get("/processing", response_class=HTMLResponse)
async def dashboard_processing(request: Request, viewer: ViewerDep, status: str = "", offset: int = 0) -> HTMLResponse:
    ingests = await viewer.api.get("/ingests", status=status, limit=PAGE, offset=max(offset, 0))
    template = "processing_rows.html" if wants_fragment(request) else "processing.html"
    return render(request, template, viewer, ingests=ingests, status=status, offset=offset, page=PAGE,
                  polling=any(is_active(i) for i in ingests["items"]) or not ingests["items"])


@router.get("/ingests/{ingest_uuid}", response_class=HTMLResponse)
async def dashboard_ingest(request: Request, viewer: ViewerDep, ingest_uuid: UUID, job: str = "") -> HTMLResponse:
    ingest = await viewer.api.get(f"/ingests/{ingest_uuid}")
    jobs = await viewer.api.get(f"/ingests/{ingest_uuid}/jobs", limit=200)
    tasks = await viewer.api.get(f"/ingests/{ingest_uuid}/tasks", job=job, limit=200) if job else None
    template = "ingest_live.html" if wants_fragment(request) else "ingest.html"
    return render(request, template, viewer, ingest=ingest, jobs=jobs, tasks=tasks, job=job,
                  polling=is_active(ingest),
                  retryable=ingest["status"] in RETRYABLE_STATUSES, cleanable=ingest["status"] in CLEANABLE_STATUSES)


@router.post("/ingests/{ingest_uuid}/decisions")
async def dashboard_answer_decision(
    viewer: ActingViewerDep, ingest_uuid: UUID, point: Annotated[str, Form()], choice: Annotated[str, Form()],
    from_list: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """Answered from the list, the archivist goes back to the list; from the ingest's page, back to it."""
    await viewer.api.post(f"/ingests/{ingest_uuid}/decisions", {"point": point, "choice": choice})
    return redirect("/processing" if from_list else f"/ingests/{ingest_uuid}")


@router.post("/ingests/{ingest_uuid}/cancel")
async def dashboard_cancel_ingest(viewer: ActingViewerDep, ingest_uuid: UUID) -> RedirectResponse:
    await viewer.api.post(f"/ingests/{ingest_uuid}/cancel")
    return redirect(f"/ingests/{ingest_uuid}")


@router.post("/ingests/{ingest_uuid}/retry")
async def dashboard_retry_ingest(viewer: ActingViewerDep, ingest_uuid: UUID) -> RedirectResponse:
    retried = await viewer.api.post(f"/ingests/{ingest_uuid}/retry")
    return redirect(f"/ingests/{retried['uuid']}")


@router.post("/ingests/{ingest_uuid}/clean-up")
async def dashboard_clean_up_ingest(
    viewer: ActingViewerDep, ingest_uuid: UUID, transfer: Annotated[bool, Form()] = False
) -> RedirectResponse:
    await viewer.api.post(f"/ingests/{ingest_uuid}/clean-up", transfer=str(transfer).lower())
    return redirect(f"/ingests/{ingest_uuid}")
