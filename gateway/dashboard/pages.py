"""Rendering pages, and the answers for a missing session, a refused CSRF token and an API error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from gateway.dashboard.api import ApiError
from gateway.dashboard.deps import CsrfRefused, SignInRequired, Viewer

PREFIX = "/dashboard"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def render(
    request: Request, template: str, viewer: Viewer | None = None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"viewer": viewer, **context}, status_code=status_code)


def redirect(path: str) -> RedirectResponse:
    """After a form post: see the result with a GET (303), so a reload never posts twice."""
    return RedirectResponse(PREFIX + path, status_code=303)


def wants_fragment(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_json(request: Request) -> bool:
    """upload.js asks for JSON: it shows the API's own problem and decides whether to resume."""
    return request.headers.get("accept", "").startswith("application/json")


def problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"status": status, "title": title, "detail": detail}, status_code=status,
                        media_type="application/problem+json")


async def sign_in_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInRequired)
    target = f"{PREFIX}/sign-in?next={error.next_path}"
    if wants_json(request):
        return problem(401, "Unauthorized", "The dashboard session has ended; sign in again.")
    if wants_fragment(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def csrf_refused(request: Request, error: Exception) -> Response:
    if wants_json(request):
        return problem(403, "Forbidden", "The CSRF token is missing or stale; reload the page.")
    return render(request, "error.html", status_code=403, title="Request refused",
                  detail="The form was not sent from this dashboard (its CSRF token is missing or stale). "
                  "Reload the page and try again.")


async def api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    if wants_json(request):
        return problem(error.status, error.title, error.detail)
    template = "error_fragment.html" if wants_fragment(request) else "error.html"
    title = f"{error.status} {error.title}"
    viewer = getattr(request.state, "dashboard_viewer", None)
    return render(request, template, viewer, status_code=error.status, title=title, detail=error.detail)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(ApiError, api_error)
