"""Format identification with Siegfried (pygfried, PRONOM signatures built in)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pygfried


@dataclass(frozen=True)
class Identification:
    puid: str | None
    format_name: str
    format_version: str | None
    basis: str | None
    warning: str | None


UNIDENTIFIED = Identification(puid=None, format_name="Unknown", format_version=None, basis=None, warning=None)


def siegfried_version() -> str:
    return str(pygfried.version())


def identify(path: Path, size: int) -> Identification:
    if size == 0:
        # Siegfried refuses empty files; an empty file has no format to find.
        return Identification(None, "Unknown", None, None, "empty file")
    try:
        result = pygfried.identify(str(path), detailed=True)
    except Exception as exc:  # Siegfried raises on some damaged files (GoError); that is "not identified"
        return Identification(None, "Unknown", None, None, f"Siegfried could not read the file: {exc}"[:500])
    matches = result["files"][0]["matches"] if result.get("files") else []
    match = next((m for m in matches if m.get("ns") == "pronom"), None)
    if match is None or match.get("id") in (None, "", "UNKNOWN"):
        warning = match.get("warning") if match else None
        return Identification(None, "Unknown", None, None, warning or None)
    return Identification(
        puid=match["id"],
        format_name=match.get("format") or "Unknown",
        format_version=match.get("version") or None,
        basis=match.get("basis") or None,
        warning=match.get("warning") or None,
    )
