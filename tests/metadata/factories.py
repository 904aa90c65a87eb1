"""Builders of PREMIS records as the ingest worker sends them, in Archivematica's event conventions.

Reusable by any test that needs realistic files and events for the metadata service.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from clients.metadata.schemas import AgentRecord, EventRecord, FileRecord, ObjectEventRecord
from servicekit.ids import derived_id

SYSTEM_AGENT = AgentRecord(
    identifier_type="preservation system", identifier_value="Amber-0.1.0", name="Amber", agent_type="software"
)
ORGANIZATION_AGENT = AgentRecord(
    identifier_type="repository code", identifier_value="amber", name="Amber", agent_type="organization"
)
USER_AGENT = AgentRecord(
    identifier_type="Amber user", identifier_value="admin", name='username="admin"', agent_type="Amber user"
)
AGENTS = (SYSTEM_AGENT, ORGANIZATION_AGENT, USER_AGENT)
SIEGFRIED_DETAIL = 'program="Siegfried"; version="1.11.1"'
BASE_TIME = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def file_events(
    file_uuid: UUID,
    checksum: str,
    puid: str | None,
    *,
    when: datetime = BASE_TIME,
    agents: Sequence[AgentRecord] = AGENTS,
) -> list[EventRecord]:
    """ingestion, message digest calculation and format identification, with stable uuids."""
    common = {"agents": list(agents)}
    return [
        EventRecord(uuid=derived_id(file_uuid, "ingestion"), type="ingestion", datetime=when, **common),
        EventRecord(
            uuid=derived_id(file_uuid, "digest"),
            type="message digest calculation",
            datetime=when + timedelta(seconds=1),
            detail='program="python"; module="hashlib.sha256()"',
            outcome_note=checksum,
            **common,
        ),
        EventRecord(
            uuid=derived_id(file_uuid, "format"),
            type="format identification",
            datetime=when + timedelta(seconds=2),
            detail=SIEGFRIED_DETAIL,
            outcome="Positive" if puid else "Not identified",
            outcome_note=puid or "No Matching Format",
            **common,
        ),
    ]


def file_record(
    path: str,
    *,
    package_uuid: UUID,
    content: bytes | None = None,
    puid: str | None = "x-fmt/111",
    format_name: str | None = None,
    format_version: str | None = None,
    with_events: bool = True,
    modified_at: datetime | None = BASE_TIME,
) -> FileRecord:
    """A file at `path` (relative to the package root, e.g. "objects/a/b.txt") with a stable uuid."""
    data = content if content is not None else f"content of {path}\n".encode()
    checksum = hashlib.sha256(data).hexdigest()
    file_uuid = derived_id(package_uuid, path)
    if format_name is None:
        format_name = "Plain Text File" if puid else "Unknown"
    return FileRecord(
        uuid=file_uuid,
        path=path,
        original_name=f"%transferDirectory%{path}",
        size=len(data),
        checksum=checksum,
        format_name=format_name,
        format_version=format_version,
        puid=puid,
        format_basis="extension match txt" if puid else None,
        modified_at=modified_at,
        events=file_events(file_uuid, checksum, puid) if with_events else [],
    )


def file_records(package_uuid: UUID, count: int, *, fanout: int = 7) -> list[FileRecord]:
    """`count` files spread over nested folders under objects/, every fifth one unidentified."""
    return [
        file_record(
            f"objects/series-{index % fanout}/box-{index % 13:02d}/item-{index:05d}.txt",
            package_uuid=package_uuid,
            puid=None if index % 5 == 4 else "x-fmt/111",
        )
        for index in range(count)
    ]


def compression_event(package_uuid: UUID, *, when: datetime = BASE_TIME) -> ObjectEventRecord:
    return ObjectEventRecord(
        uuid=derived_id(package_uuid, "compression"),
        type="compression",
        datetime=when + timedelta(minutes=5),
        detail='program="7z"; algorithm="bzip2"; version="16.02"',
        outcome_note='Standard Output="Everything is Ok"; Standard Error=""',
        agents=[SYSTEM_AGENT, ORGANIZATION_AGENT],
    )
