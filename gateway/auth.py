"""Who is calling: every public operation needs `ApiKey <username>:<key>` or `Bearer <key>`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.keys import service as keys
from gateway.schemas import UserRead
from servicekit.auth import unauthorized
from servicekit.db import session_scope
from servicekit.problems import Problem
from servicekit.roles import Role, required_role

AUTH_HINT = "Send 'Authorization: ApiKey <username>:<key>' or 'Authorization: Bearer <key>'"


def parse_authorization(header: str | None) -> tuple[str | None, str]:
    """The (username or None, key) a header presents; a malformed header is refused outright."""
    if not header:
        raise unauthorized(f"An API key is required. {AUTH_HINT}")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "apikey":
        username, sep, key = value.partition(":")
        if sep and username and key:
            return username, key
    raise unauthorized(f"Malformed Authorization header. {AUTH_HINT}")


async def current_user(request: Request) -> UserRead:
    """Look the key up on every request (nothing cached: a revocation or a disabled user takes effect at once).

    The session is opened and committed here rather than through SessionDep so that no transaction stays
    open while a proxied body streams.
    """
    username, key = parse_authorization(request.headers.get("authorization"))
    user: UserRead | None = None
    async for session in session_scope(request.app.state.sessions):
        user = await keys.authenticate(session, key, username)
    if user is None:
        raise unauthorized("The API key is unknown, revoked, or not this user's, or its user is disabled")
    return user


CurrentUserDep = Annotated[UserRead, Depends(current_user)]


def forbidden(user: UserRead, needed: Role, what: str) -> Problem:
    return Problem(403, "Forbidden", f"{what} needs role {needed.value}; {user.username} has role {user.role.value}")


def authorize(user: UserRead, needed: Role, what: str) -> None:
    if not user.role.allows(needed):
        raise forbidden(user, needed, what)


async def authorized_user(request: Request, user: CurrentUserDep) -> UserRead:
    """The caller, if their role allows the gateway operation called: the role is read from the operation's own
    `openapi_extra` (`servicekit.roles.role_operation`), so it is declared once, where /openapi.json shows it."""
    route = request.scope.get("route")
    authorize(user, required_role(getattr(route, "openapi_extra", None) or {}), f"{request.method} {request.url.path}")
    return user


# For routers: every operation of the router is checked against its declared role.
AUTHORIZED = [Depends(authorized_user)]
