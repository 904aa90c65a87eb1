"""Who is looking at a page, and the CSRF check every state-changing request passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request

from gateway.dashboard import sealing, sessions
from gateway.dashboard.api import AmberApi, ApiError, http_client
from servicekit.db import session_scope
from servicekit.roles import Role

COOKIE = "amber_dashboard"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token, or from another origin."""


@dataclass(frozen=True)
class Viewer:
    username: str
    role: Role
    api: AmberApi
    csrf: str

    @property
    def archivist(self) -> bool:
        return self.role.allows(Role.archivist)

    @property
    def admin(self) -> bool:
        return self.role.allows(Role.admin)



async def current_viewer(request: Request) -> Viewer:
    """The signed-in user, their role read afresh from the API on every page (a revoked key or a disabled user ends
    the session at once)."""
    token = request.cookies.get(COOKIE)
    next_path = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if not token:
        raise SignInRequired(next_path)
    credentials = None
    async for db in session_scope(request.app.state.sessions):
        credentials = await sessions.resume(db, token)
    if credentials is None:
        raise SignInRequired(next_path)
    api = AmberApi(http_client(request.app), credentials.username, credentials.key)
    try:
        me = await api.get("/me")
    except ApiError as error:
        if error.status == 401:
            raise SignInRequired(next_path) from error
        raise
    viewer = Viewer(credentials.username, Role(me["role"]), api, sealing.csrf_token(token))
    request.state.dashboard_viewer = viewer  # error pages keep the navigation of the signed-in user
    return viewer


def same_origin(request: Request) -> bool:
    """The host only: behind a TLS-terminating proxy the browser's https origin reaches us as plain http."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.url.netloc


async def presented_csrf(request: Request) -> str | None:
    if header := request.headers.get(CSRF_HEADER):
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def acting_viewer(request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    """The viewer, for a request that changes something: refused unless it carries the session's CSRF token
    (a form field or the X-CSRF-Token header) and, when the browser names one, comes from this origin."""
    token = request.cookies.get(COOKIE, "")
    if not same_origin(request) or not sealing.csrf_matches(token, await presented_csrf(request)):
        raise CsrfRefused()
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
ActingViewerDep = Annotated[Viewer, Depends(acting_viewer)]
