"""Identifiers: random UUIDs, deterministic ones for idempotent retries, and storage quad paths."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

# Fixed namespace so that a retried activity derives the very same identifiers again.
AMBER_NAMESPACE = uuid.UUID("5b1f7a52-3c1e-4d7e-9a51-0a3c6e1b7d20")


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def derived_id(*parts: object) -> uuid.UUID:
    """A UUID that is a pure function of its parts (UUIDv5), stable across retries and processes."""
    return uuid.uuid5(AMBER_NAMESPACE, "\x1f".join(str(p) for p in parts))


def uuid_quad_path(value: uuid.UUID | str) -> PurePosixPath:
    """The Storage Service layout: 32 hex digits as eight folders of four."""
    hexdigits = uuid.UUID(str(value)).hex
    return PurePosixPath(*(hexdigits[i : i + 4] for i in range(0, 32, 4)))
