"""Administration: users and their keys, storage locations, processing configurations (each decision point a
form field; processingMCP.xml export and import) and the format rules. The API refuses anyone below admin; the
pages show these links to admins only."""

from __future__ import annotations

import typing
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from clients.ingest.processing import ProcessingConfigFields
from gateway.dashboard.deps import ActingViewerDep, ViewerDep
from gateway.dashboard.pages import PREFIX, redirect, render
from gateway.dashboard.storage import relay
from servicekit.roles import Role

router = APIRouter(prefix=PREFIX + "/admin", include_in_schema=False)
PAGE = 100
PURPOSES = ("transfer_source", "aip_storage", "dip_storage", "backlog", "currently_processing", "replicator")


def decision_points() -> list[dict[str, Any]]:
    """Each point of a processing configuration with its question and the answers its schema allows."""
    return [
        {"name": name, "question": field.description, "choices": list(typing.get_args(field.annotation))}
        for name, field in ProcessingConfigFields.model_fields.items()
    ]


@router.get("/users", response_class=HTMLResponse)
async def dashboard_users(request: Request, viewer: ViewerDep) -> HTMLResponse:
    users = await viewer.api.get("/users", limit=PAGE)
    keys = await viewer.api.get("/keys", limit=PAGE)
    return render(request, "admin_users.html", viewer, users=users, keys=keys, roles=[r.value for r in Role])


@router.post("/users")
async def dashboard_create_user(
    viewer: ActingViewerDep, username: Annotated[str, Form()], role: Annotated[Role, Form()]
) -> RedirectResponse:
    await viewer.api.post("/users", {"username": username, "role": role.value})
    return redirect("/admin/users")


@router.post("/users/{username}")
async def dashboard_update_user(
    viewer: ActingViewerDep, username: str, role: Annotated[Role | None, Form()] = None,
    disabled: Annotated[bool | None, Form()] = None,
) -> RedirectResponse:
    body: dict[str, Any] = {"role": role.value} if role else {}
    if disabled is not None:
        body["disabled"] = disabled
    await viewer.api.request("PATCH", f"/users/{username}", json=body)
    return redirect("/admin/users")


@router.post("/keys", response_class=HTMLResponse)
async def dashboard_create_key(
    request: Request, viewer: ActingViewerDep, username: Annotated[str, Form()], name: Annotated[str, Form()]
) -> HTMLResponse:
    """The new key is shown on this answer only (it is never stored in clear)."""
    created = await viewer.api.post("/keys", {"username": username, "name": name})
    return render(request, "admin_key_created.html", viewer, created=created)


@router.post("/keys/{key_id}/revoke")
async def dashboard_revoke_key(viewer: ActingViewerDep, key_id: UUID) -> RedirectResponse:
    await viewer.api.request("DELETE", f"/keys/{key_id}")
    return redirect("/admin/users")


@router.get("/locations", response_class=HTMLResponse)
async def dashboard_locations(request: Request, viewer: ViewerDep) -> HTMLResponse:
    locations = await viewer.api.get("/locations")
    return render(request, "admin_locations.html", viewer, locations=locations, purposes=PURPOSES)


@router.post("/locations")
async def dashboard_create_location(
    viewer: ActingViewerDep, purpose: Annotated[str, Form()], path: Annotated[str, Form()],
    description: Annotated[str, Form()] = "", quota: Annotated[int | None, Form(ge=0)] = None,
    is_default: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    await viewer.api.post("/locations", {
        "purpose": purpose, "path": path, "description": description, "quota": quota, "is_default": is_default,
    })
    return redirect("/admin/locations")


@router.get("/processing-configurations", response_class=HTMLResponse)
async def dashboard_processing_configs(request: Request, viewer: ViewerDep) -> HTMLResponse:
    configs = await viewer.api.get("/processing-configurations")
    return render(request, "admin_configs.html", viewer, configs=configs)


@router.get("/processing-configurations/new", response_class=HTMLResponse)
async def dashboard_new_processing_config(request: Request, viewer: ViewerDep, name: str) -> HTMLResponse:
    """A new configuration starts from the answers of `automated`."""
    config = {"name": name, "fields": ProcessingConfigFields().model_dump()}
    return render(request, "admin_config.html", viewer, config=config, points=decision_points())


@router.get("/processing-configurations/{name}", response_class=HTMLResponse)
async def dashboard_processing_config(request: Request, viewer: ViewerDep, name: str) -> HTMLResponse:
    config = await viewer.api.get(f"/processing-configurations/{name}")
    return render(request, "admin_config.html", viewer, config=config, points=decision_points())


@router.post("/processing-configurations")
async def dashboard_save_processing_config(request: Request, viewer: ActingViewerDep) -> RedirectResponse:
    """Create or edit: one select per decision point, named as the point."""
    form = await request.form()
    name = str(form.get("name", "")).strip()
    fields = {point["name"]: str(form[point["name"]]) for point in decision_points() if point["name"] in form}
    await viewer.api.request("PUT", f"/processing-configurations/{name}", json={"fields": fields})
    return redirect(f"/admin/processing-configurations/{name}")


@router.get("/processing-configurations/{name}/processingMCP.xml")
async def dashboard_export_processing_config(viewer: ViewerDep, name: str) -> StreamingResponse:
    return await relay(viewer, f"/processing-configurations/{name}/processingMCP.xml")


@router.post("/processing-configurations/{name}/import")
async def dashboard_import_processing_config(
    viewer: ActingViewerDep, name: str, document: Annotated[UploadFile, File()]
) -> RedirectResponse:
    """A processingMCP.xml is a few kilobytes; it is sent on as the request body."""
    await viewer.api.request("POST", f"/processing-configurations/{name}/import", content=await document.read(),
                             headers={"Content-Type": "application/xml"})
    return redirect(f"/admin/processing-configurations/{name}")


@router.get("/format-rules", response_class=HTMLResponse)
async def dashboard_format_rules(
    request: Request, viewer: ViewerDep, purpose: str = "", puid: str = "", offset: int = 0
) -> HTMLResponse:
    rules = await viewer.api.get("/format-rules", purpose=purpose, puid=puid, limit=PAGE, offset=max(offset, 0))
    return render(request, "admin_rules.html", viewer, rules=rules, purpose=purpose, puid=puid, offset=offset,
                  page=PAGE)


@router.post("/format-rules/{rule_uuid}")
async def dashboard_toggle_format_rule(
    viewer: ActingViewerDep, rule_uuid: UUID, enabled: Annotated[bool, Form()],
    purpose: Annotated[str, Form()] = "", puid: Annotated[str, Form()] = "", offset: Annotated[int, Form()] = 0,
) -> RedirectResponse:
    """Back to the list as it was filtered, so the admin sees the rule they changed."""
    await viewer.api.request("PATCH", f"/format-rules/{rule_uuid}", json={"enabled": enabled})
    return redirect("/admin/format-rules?" + urlencode({"purpose": purpose, "puid": puid, "offset": max(offset, 0)}))
