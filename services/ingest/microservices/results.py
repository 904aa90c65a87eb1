"""The result shape every micro-service returns: what happened to each file and which PREMIS events to record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class EventSpec:
    """One PREMIS event, with Archivematica's strings (`eventType`, `eventDetail`, `eventOutcome`, note)."""

    type: str
    detail: str = ""
    outcome: str = ""
    outcome_note: str = ""
    at: datetime = field(default_factory=utc_now)


class Status(StrEnum):
    PASSED = "passed"
    # The tool judged the file and it failed (infected, invalid, broken package).
    FAILED = "failed"
    # Deliberately not processed (over a size limit, no tool for the format); never reported as passed.
    SKIPPED = "skipped"
    # The tool could not do its job (unreadable file, crashed tool); the file's state is unknown.
    ERROR = "error"


@dataclass(frozen=True)
class FileOutcome:
    """What one micro-service did to one file.

    `message` is short and bounded (it is shown in task listings); `events` are to be recorded on the file.
    """

    path: Path
    status: Status
    events: tuple[EventSpec, ...] = ()
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASSED, Status.SKIPPED)


MAX_MESSAGE = 2000


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """Cut tool chatter to `limit` characters, keeping the start (where tools put the reason)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit - 20] + " …[truncated]"
