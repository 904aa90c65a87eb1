"""Roles: what a user may do through the public API, declared on each operation where it is defined.

Every public operation carries `x-amber-role` in its OpenAPI document (the marker `role_operation` builds). The
gateway reads the services' documents, refuses a caller whose role is below the operation's before anything is
proxied, and shows the role in the merged `/openapi.json`. An operation without the marker is treated as
needing `admin`, so a new operation is never open by omission.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

ROLE_EXTENSION = "x-amber-role"


class Role(StrEnum):
    """Ordered: each role may do everything the roles before it may."""

    reader = "reader"
    archivist = "archivist"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Whether a user with this role may call an operation that needs `needed`."""
        return self.rank >= needed.rank


ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.reader: "reads and downloads",
    Role.archivist: "also creates transfers, uploads and ingests, answers decisions, adds metadata, runs fixity "
    "checks and requests deletions",
    Role.admin: "also manages users and keys, spaces and locations, processing configurations, and approves "
    "deletions (never their own request)",
}

# The role an operation needs when its document says nothing: the most restrictive one.
DEFAULT_ROLE = Role.admin


def role_operation(role: Role, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `openapi_extra` of a public operation that needs `role`, merged with the operation's own `extra`."""
    return {**(extra or {}), ROLE_EXTENSION: role.value}


def required_role(operation: Mapping[str, Any]) -> Role:
    """The role an OpenAPI operation object declares, or DEFAULT_ROLE when it declares none (or an unknown one)."""
    try:
        return Role(operation.get(ROLE_EXTENSION, DEFAULT_ROLE))
    except ValueError:
        return DEFAULT_ROLE
