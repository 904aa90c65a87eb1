"""API keys and the internal token: generation, hashing, and the check services apply."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request

from servicekit.problems import Problem

INTERNAL_USER_HEADER = "X-Amber-User"
# The acting user's role (servicekit.roles.Role), asserted by the gateway beside the user, for rules that need it.
INTERNAL_ROLE_HEADER = "X-Amber-Role"


def generate_key() -> str:
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """Keys are 256-bit random strings, so one SHA-256 is enough to keep them unrecoverable at rest."""
    return hashlib.sha256(key.encode()).hexdigest()


def keys_match(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return None


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer, ApiKey realm="amber"'})


def require_internal_token(request: Request) -> str:
    """Behind the gateway a service trusts only callers holding the stack's internal token.

    Returns the acting user's name that the gateway asserted (or "system" for service calls).
    """
    expected: str | None = request.app.state.internal_token
    if expected:
        presented = bearer_token(request)
        if presented is None or not hmac.compare_digest(presented, expected):
            raise unauthorized("A valid internal token is required")
    return request.headers.get(INTERNAL_USER_HEADER, "system")


CallerDep = Annotated[str, Depends(require_internal_token)]
