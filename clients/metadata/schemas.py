"""Wire schemas of the metadata service: PREMIS packages, file objects, events and agents."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, field_validator

MAX_BULK = 5000
"""Most records one bulk call accepts; clients split larger sets into several calls."""


class PackageUpsert(BaseModel):
    name: str = Field(min_length=1, max_length=255, description="Package name; the AIP is `<name>-<uuid>`.")
    transfer_uuid: UUID | None = Field(default=None, description="The transfer the package came from.")


class PackageRead(BaseModel):
    uuid: UUID = Field(description="The SIP/AIP UUID.")
    name: str
    transfer_uuid: UUID | None
    created_at: dt.datetime
    file_count: int = Field(description="PREMIS file objects recorded for the package.")
    event_count: int = Field(description="PREMIS events recorded for the package, file- and package-level.")


class AgentRecord(BaseModel):
    """A PREMIS agent, identified by its (identifier_type, identifier_value) pair."""

    identifier_type: str = Field(
        min_length=1, max_length=255, examples=["preservation system", "repository code", "Amber user"]
    )
    identifier_value: str = Field(min_length=1, max_length=255, examples=["Amber-0.1.0", "amber", "admin"])
    name: str = Field(max_length=1024, examples=["Amber", 'username="admin"'])
    agent_type: str = Field(max_length=255, examples=["software", "organization", "Amber user"])


class EventRecord(BaseModel):
    """A PREMIS event, with the strings as Archivematica writes them (e.g. `message digest calculation`)."""

    uuid: UUID = Field(description="Chosen by the caller, so a retried call records nothing twice.")
    type: str = Field(min_length=1, max_length=100, examples=["ingestion", "format identification"])
    datetime: AwareDatetime
    detail: str = Field(default="", max_length=8000, examples=['program="Siegfried"; version="1.11.1"'])
    outcome: str = Field(default="", max_length=255, examples=["Positive", "Not identified", "Pass"])
    outcome_note: str = Field(default="", max_length=8000, examples=["fmt/43", "No Matching Format"])
    agents: list[AgentRecord] = Field(default_factory=list, description="The agents linked to the event.")


class ObjectEventRecord(EventRecord):
    object_uuid: UUID | None = Field(
        default=None,
        description="The object the event is about: a file's UUID, or the package's own (the default) for "
        "package-level events such as compression.",
    )


class FileRecord(BaseModel):
    """A PREMIS file object of a package, with the events recorded about it."""

    uuid: UUID
    path: str = Field(
        min_length=1, max_length=4096, description="Relative to the package root.", examples=["objects/a/b.txt"]
    )
    original_name: str = Field(
        max_length=4096, description="Where the file came from.", examples=["%transferDirectory%objects/a/b.txt"]
    )
    size: int = Field(ge=0)
    checksum_type: str = Field(default="sha256", max_length=32)
    checksum: str = Field(min_length=1, max_length=128)
    format_name: str = Field(max_length=255, description="Empty or `Unknown` when identification failed.")
    format_version: str | None = Field(default=None, max_length=255)
    puid: str | None = Field(default=None, max_length=64, description="PRONOM identifier, e.g. fmt/43.")
    format_basis: str | None = Field(default=None, max_length=2000, description="Why the identifier matched.")
    modified_at: AwareDatetime | None = Field(default=None, description="The file's modification time.")
    use: str = Field(default="original", max_length=64, description="The METS fileGrp USE.")
    events: list[EventRecord] = Field(default_factory=list)

    @field_validator("path")
    @classmethod
    def _relative_path(cls, path: str) -> str:
        parts = path.split("/")
        if "\x00" in path or any(part in ("", ".", "..") for part in parts):
            raise ValueError("must be a relative POSIX path without empty, '.' or '..' segments")
        return path


class FilesBulk(BaseModel):
    files: list[FileRecord] = Field(max_length=MAX_BULK)


class EventsBulk(BaseModel):
    events: list[ObjectEventRecord] = Field(max_length=MAX_BULK)


class BulkResult(BaseModel):
    created: int = Field(description="Records written by this call.")
    unchanged: int = Field(description="Records that already existed (e.g. a retried call); left as they were.")


class FileRead(BaseModel):
    uuid: UUID
    package_uuid: UUID
    path: str
    original_name: str
    size: int
    checksum_type: str
    checksum: str
    format_name: str
    format_version: str | None
    puid: str | None
    format_basis: str | None
    modified_at: dt.datetime | None
    use: str


class EventRead(BaseModel):
    uuid: UUID
    package_uuid: UUID
    object_uuid: UUID | None
    type: str
    datetime: dt.datetime
    detail: str
    outcome: str
    outcome_note: str
    agents: list[AgentRecord]
