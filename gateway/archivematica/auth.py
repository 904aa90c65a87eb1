"""Archivematica's authentication on top of Amber's users, keys and roles.

Tastypie's `ApiKeyAuthentication` reads `Authorization: ApiKey <user>:<key>` or `username` + `api_key` from the
query string or a form body; the Storage Service also takes HTTP Basic (`user:key`). The key is an Amber API key
and the user its owner, so a revocation or a disabled user takes effect here as on /api/v1.

Roles are declared on each route exactly as the gateway's own routes do (`openapi_extra=role_operation(...)`),
and the router dependency reads them from the matched route: a reader's key cannot start a transfer here either.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from gateway.archivematica.errors import ArchivematicaError, dashboard_error
from gateway.keys import service as keys
from gateway.schemas import UserRead
from servicekit.db import session_scope
from servicekit.roles import required_role

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DASHBOARD_INVALID = {"message": "API key not valid.", "error": True}


def _from_header(header: str, basic: bool) -> tuple[str, str] | None:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "apikey":
        username, sep, key = value.partition(":")
        return (username, key) if sep else None
    if basic and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, key = decoded.partition(":")
        return (username, key) if sep else None
    return None


async def presented_credentials(request: Request, *, basic: bool) -> tuple[str, str] | None:
    """The (username, key) a request presents in any of Archivematica's styles, or None."""
    header = request.headers.get("authorization")
    if header:
        found = _from_header(header, basic)
        if found:
            return found
    username, key = request.query_params.get("username"), request.query_params.get("api_key")
    if (not username or not key) and request.headers.get("content-type", "").startswith(FORM_TYPES):
        form = await request.form()
        form_user, form_key = form.get("username"), form.get("api_key")
        if isinstance(form_user, str) and isinstance(form_key, str):
            username, key = form_user, form_key
    if username and key:
        return username, key
    return None


async def _authenticate(request: Request, *, basic: bool) -> UserRead | None:
    credentials = await presented_credentials(request, basic=basic)
    if credentials is None:
        return None
    username, key = credentials
    user: UserRead | None = None
    async for session in session_scope(request.app.state.sessions):
        user = await keys.authenticate(session, key, username)
    return user


def _check_role(request: Request, user: UserRead) -> None:
    """The role the matched route declares (admin when it declares none), refused in the dashboard's shape."""
    route = request.scope.get("route")
    needed = required_role(getattr(route, "openapi_extra", None) or {})
    if not user.role.allows(needed):
        raise dashboard_error(403, f"This needs role {needed.value}; {user.username} has role {user.role.value}.")


async def dashboard_user(request: Request) -> UserRead:
    """Dashboard routes: a bad key is 403 with Archivematica's JSON, as its clients (Enduro: fatal) expect."""
    user = await _authenticate(request, basic=False)
    if user is None:
        raise ArchivematicaError(403, dict(DASHBOARD_INVALID))
    _check_role(request, user)
    return user


async def storage_user(request: Request) -> UserRead:
    """Storage Service routes: a bad key is 401 with an empty body; a role too low is 403 saying which role."""
    user = await _authenticate(request, basic=True)
    if user is None:
        raise ArchivematicaError(401, None)
    _check_role(request, user)
    return user


DashboardUser = Annotated[UserRead, Depends(dashboard_user)]
StorageUser = Annotated[UserRead, Depends(storage_user)]
