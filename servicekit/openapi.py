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


def binary_content(media_type: str = "application/octet-stream") -> dict[str, Any]:
    """The OpenAPI `content` of a body sent or answered as raw bytes of `media_type` (an archive, an XML document).

    A binary schema, not a string one: the bytes carry their own encoding, and generated clients (which know only a
    few media types) then hand them over as a file instead of leaving the operation out.
    """
    return {media_type: {"schema": {"type": "string", "format": "binary"}}}


def binary_body(description: str) -> dict[str, Any]:
    """The `openapi_extra` of an operation that streams its raw request body itself (so FastAPI documents none)."""
    return {"requestBody": {"required": True, "description": description, "content": binary_content()}}
