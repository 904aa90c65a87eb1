"""Sign in with a username and an API key; sign out. The sign-in form itself is protected against login CSRF by a
double-submitted random value (cookie and form field)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.dashboard import sessions
from gateway.dashboard.api import http_client
from gateway.dashboard.deps import COOKIE, ActingViewerDep, same_origin
from gateway.dashboard.pages import PREFIX, render
from gateway.settings import GatewaySettings
from servicekit.db import session_scope

router = APIRouter(prefix=PREFIX, include_in_schema=False)
SIGN_IN_COOKIE = "amber_dashboard_sign_in"


def safe_next(target: str | None) -> str:
    """Only a path of the dashboard itself (no open redirect to another site)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    settings: GatewaySettings = request.app.state.settings
    secure = settings.dashboard_secure_cookie
    if secure is None:
        secure = request.url.scheme == "https"
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict")


def sign_in_form(request: Request, next_path: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    response = render(request, "sign_in.html", status_code=status, nonce=nonce, next=safe_next(next_path), error=error)
    set_cookie(request, response, SIGN_IN_COOKIE, nonce, max_age=3600)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
async def dashboard_sign_in_form(request: Request, next: str | None = None) -> HTMLResponse:
    return sign_in_form(request, next or "")


@router.post("/sign-in", response_model=None)
async def dashboard_sign_in(
    request: Request, username: Annotated[str, Form()], key: Annotated[str, Form()],
    nonce: Annotated[str, Form()], next: Annotated[str, Form()] = "",
) -> Response:
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not same_origin(request) or not expected or not hmac.compare_digest(expected, nonce):
        return sign_in_form(request, next, "The sign-in form had expired; please sign in again.", status=403)
    username, key = username.strip(), key.strip()
    role = await sessions.verify(http_client(request.app), username, key) if username and key else None
    if role is None:
        return sign_in_form(request, next, "That username and API key were not accepted.", status=401)
    settings: GatewaySettings = request.app.state.settings
    async for db in session_scope(request.app.state.sessions):
        token = await sessions.open_session(db, sessions.Credentials(username, key), settings.dashboard_session_hours)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, response, COOKIE, token, max_age=int(settings.dashboard_session_hours * 3600))
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return response


@router.post("/sign-out")
async def dashboard_sign_out(request: Request, viewer: ActingViewerDep) -> RedirectResponse:
    async for db in session_scope(request.app.state.sessions):
        await sessions.close_session(db, request.cookies[COOKIE])
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
