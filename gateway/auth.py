"""Who is calling: every public operation needs `ApiKey <username>:<key>` or `Bearer <key>`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.keys import service as keys
from gateway.schemas import UserRead
from servicekit.auth import unauthorized
from servicekit.db import session_scope
from servicekit.problems import Problem

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
    """Look the key up on every request (nothing cached: a revocation takes effect at once).

    The session is opened and committed here rather than through SessionDep so that no transaction stays
    open while a proxied body streams.
    """
    username, key = parse_authorization(request.headers.get("authorization"))
    user: UserRead | None = None
    async for session in session_scope(request.app.state.sessions):
        user = await keys.authenticate(session, key, username)
    if user is None:
        raise unauthorized("The API key is unknown, revoked, or not this user's")
    return user


async def admin_user(user: Annotated[UserRead, Depends(current_user)]) -> UserRead:
    if not user.is_admin:
        raise Problem(403, "Forbidden", "Only administrators manage API keys")
    return user


CurrentUserDep = Annotated[UserRead, Depends(current_user)]
AdminDep = Annotated[UserRead, Depends(admin_user)]
