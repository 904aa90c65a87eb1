"""Marking operations as internal: for workers and peer services only, never exposed through the gateway.

Services call each other directly with the internal token; the gateway learns from each service's own OpenAPI
document which operations carry the marker, leaves them out of the public document and refuses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INTERNAL_EXTENSION = "x-amber-internal"


def internal_operation(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `openapi_extra` of an internal operation, merged with the operation's own `extra` if it has one."""
    return {**(extra or {}), INTERNAL_EXTENSION: True}


def is_internal(operation: Mapping[str, Any]) -> bool:
    """Whether an OpenAPI operation object carries the internal marker."""
    return operation.get(INTERNAL_EXTENSION) is True
