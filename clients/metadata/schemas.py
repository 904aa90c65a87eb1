"""Wire schemas of the metadata service: PREMIS packages, file objects, events and agents."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, field_validator, model_validator

MAX_BULK = 5000
"""Most records one bulk call accepts; clients split larger sets into several calls."""
MAX_CHARACTERISTICS_BYTES = 1024 * 1024
"""Largest tool output (UTF-8 bytes) one characteristics record carries; `CharacteristicsRecord.bounded` cuts to it."""
DELETED_USE = "deleted"
"""The `use` of a file removed from the SIP (an extracted package deleted, an infected file quarantined): its
PREMIS object and events stay in the record and the METS, its bytes are not in the AIP."""


class PackageUpsert(BaseModel):
    name: str = Field(min_length=1, max_length=255, description="Package name; the AIP is `<name>-<uuid>`.")
    transfer_uuid: UUID | None = Field(default=None, description="The transfer the package came from.")


class PackageRead(BaseModel):
    uuid: UUID = Field(description="The SIP/AIP UUID.")
    name: str
    transfer_uuid: UUID | None
    created_at: dt.datetime
    file_count: int = Field(description="PREMIS file objects recorded for the package, removed ones included.")
    deleted_file_count: int = Field(default=0, description="Of these, files removed from the SIP (use `deleted`): "
                                    "in the record and the METS, not in the AIP.")
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


class RelationshipRecord(BaseModel):
    """A PREMIS relationship of a file object (e.g. an original and its preservation derivative)."""

    type: str = Field(default="derivation", max_length=255)
    subtype: str = Field(max_length=255, examples=["is source of", "has source"])
    related_object_uuid: UUID
    related_event_uuid: UUID | None = None


class CharacteristicsRecord(BaseModel):
    """A characterization tool's XML output about a file, kept in the METS (premis:objectCharacteristicsExtension)."""

    tool: str = Field(min_length=1, max_length=255, examples=["ExifTool", "MediaInfo", "FFprobe"])
    version: str = Field(max_length=255, examples=["12.76", "24.01"])
    xml: str = Field(max_length=MAX_CHARACTERISTICS_BYTES,
                     description="The tool's XML output, at most 1 MiB of UTF-8. Output that does not parse (or was "
                     "truncated) is kept as text in the METS.")
    truncated: bool = Field(default=False, description="`xml` is the beginning of a longer output.")

    @field_validator("xml")
    @classmethod
    def _bounded(cls, xml: str) -> str:
        # max_length counts characters; the bound that matters for storage and the METS is bytes.
        if len(xml) * 4 > MAX_CHARACTERISTICS_BYTES and len(xml.encode()) > MAX_CHARACTERISTICS_BYTES:
            raise ValueError(f"must be at most {MAX_CHARACTERISTICS_BYTES} bytes of UTF-8")
        return xml

    @classmethod
    def bounded(cls, tool: str, version: str, output: str | bytes) -> CharacteristicsRecord:
        """A record of `output` cut to MAX_CHARACTERISTICS_BYTES (at a character boundary), `truncated` if cut."""
        # Decoding first: replacement characters can make undecodable output longer than it was.
        text = output.decode("utf-8", errors="replace") if isinstance(output, bytes) else output
        data = text.encode(errors="replace")
        truncated = len(data) > MAX_CHARACTERISTICS_BYTES
        # `ignore` drops only a character the cut went through: the rest is valid UTF-8 (lone surrogates are gone).
        text = data[:MAX_CHARACTERISTICS_BYTES].decode("utf-8", errors="ignore")
        return cls(tool=tool, version=version, xml=text, truncated=truncated)


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
    use: str = Field(
        default="original", max_length=64,
        description="The METS fileGrp USE (`original`, `preservation`, `submissionDocumentation`…). `deleted` marks a "
        "file removed from the SIP (a package deleted after extraction, an infected file quarantined): its bytes "
        "are not in the AIP, but its PREMIS object and events are, in a fileGrp USE=\"deleted\" with no FLocat, "
        "outside the structMaps and the search index.",
        examples=["original", "preservation", DELETED_USE],
    )
    creating_application: str | None = Field(default=None, max_length=255, examples=["convert"])
    creating_application_version: str | None = Field(default=None, max_length=255)
    relationships: list[RelationshipRecord] = Field(default_factory=list)
    characteristics: list[CharacteristicsRecord] = Field(
        default_factory=list, description="Characterization tools' outputs, in the order the METS lists them."
    )
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
    agents: list[AgentRecord] = Field(
        default_factory=list, max_length=100,
        description="The agents of every event of these files sent without an `agents` key of its own (an event "
        "sent with `agents`, even empty, keeps its own). A worker's events all name the same few agents: sent once "
        "per request, they are not written, parsed and validated again for each event.",
    )

    def events_agents(self, event: EventRecord) -> list[AgentRecord]:
        """The agents `event` is linked to: its own, or the request's when it was sent without any."""
        return event.agents if "agents" in event.model_fields_set else self.agents


class FileRelationships(BaseModel):
    """Relationships to add to a recorded file (an original that became the source of a derivative)."""

    file_uuid: UUID
    relationships: list[RelationshipRecord] = Field(min_length=1, max_length=100)
    use: str | None = Field(default=None, max_length=64, description="A new fileGrp USE for the file (a manually "
                            "normalized file becomes `preservation` or `access`)")


class RelationshipsBulk(BaseModel):
    files: list[FileRelationships] = Field(max_length=MAX_BULK)


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
    creating_application: str | None = None
    creating_application_version: str | None = None
    relationships: list[RelationshipRecord] = Field(default_factory=list)


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


# -- the record forwarded from the transfer journal (keyed by path within the package) -----------------------

def _package_path(path: str) -> str:
    """`objects` (the package's content), `objects/dir` or `objects/dir/file`: relative, normalised, no `..`."""
    path = path.strip().strip("/")
    parts = path.split("/")
    if not path or "\x00" in path or any(part in ("", ".", "..") for part in parts):
        raise ValueError("must be a relative POSIX path without empty, '.' or '..' segments")
    return path


PackagePath = Annotated[
    str,
    Field(min_length=1, max_length=4096, examples=["objects", "objects/letters", "objects/letters/1901.pdf"]),
    AfterValidator(_package_path),
]


class DescriptiveRecord(BaseModel):
    """Descriptive metadata of the package (`objects`), a directory or a file, as the journal carries it.

    `elements` maps a column of `metadata.csv` to its values: for Dublin Core `dc.title`, `dcterms.isPartOf`…
    """

    path: PackagePath
    elements: dict[str, list[str]] = Field(examples=[{"dc.title": ["Hart papers"], "dc.creator": ["Hart, J."]}])

    @field_validator("elements", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: (v if isinstance(v, list) else [v]) for k, v in value.items()}
        return value


class DescriptiveBulk(BaseModel):
    kind: Literal["dublin_core", "custom"] = Field(
        default="dublin_core", description="`dublin_core` (METS MDTYPE DC) or `custom` (OTHER/CUSTOM)."
    )
    records: list[DescriptiveRecord] = Field(max_length=MAX_BULK)


class DocumentationIdentifier(BaseModel):
    type: str = Field(max_length=1000)
    value: str = Field(max_length=4000)
    role: str | None = Field(default=None, max_length=1000)


class RightsGrant(BaseModel):
    """A PREMIS rightsGranted: the act allowed, its restrictions and term."""

    act: str = Field(min_length=1, max_length=255, examples=["disseminate", "migrate", "replicate"])
    restrictions: list[str] = Field(default_factory=list, examples=[["Disallow"], ["Conditional"]])
    start_date: str | None = Field(default=None, description="EDTF date (e.g. 2001-01-01)")
    end_date: str | None = Field(default=None, description="EDTF date, or `open`")
    note: str = Field(default="", max_length=8000)


RIGHTS_BASES = ("Copyright", "License", "Statute", "Other", "Donor", "Policy")


class RightsStatementRecord(BaseModel):
    """A PREMIS rights statement. Also accepts a parsed `rights.csv` row (Archivematica's columns)."""

    basis: str = Field(examples=list(RIGHTS_BASES))
    status: str = Field(default="", max_length=255, description="Copyright status (copyrighted, public domain…)")
    jurisdiction: str = Field(default="", max_length=255)
    determination_date: str | None = None
    start_date: str | None = None
    end_date: str | None = Field(default=None, description="EDTF date, or `open`")
    note: str = Field(default="", max_length=8000)
    license_terms: str = Field(default="", max_length=8000)
    statute_citation: str = Field(default="", max_length=8000)
    other_basis: str = Field(default="", max_length=255, description="For basis Other (e.g. Donor, Policy)")
    documentation: list[DocumentationIdentifier] = Field(default_factory=list)
    granted: list[RightsGrant] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_rights_csv(cls, data: object) -> object:
        if not isinstance(data, dict) or not any(key in data for key in ("grant_act", "doc_id_type", "file")):
            return data
        row = {str(k).strip().lower(): (v or "").strip() if isinstance(v, str) else v for k, v in data.items()}
        basis = str(row.get("basis") or "")
        out: dict[str, object] = {
            "basis": basis,
            "status": row.get("status") or "",
            "jurisdiction": row.get("jurisdiction") or "",
            "determination_date": row.get("determination_date") or None,
            "start_date": row.get("start_date") or None,
            "end_date": row.get("end_date") or None,
            "note": row.get("note") or "",
            "license_terms": row.get("terms") or "",
            "statute_citation": row.get("citation") or "",
        }
        if row.get("doc_id_type") or row.get("doc_id_value"):
            out["documentation"] = [{"type": row.get("doc_id_type") or "", "value": row.get("doc_id_value") or "",
                                     "role": row.get("doc_id_role") or None}]
        if row.get("grant_act"):
            restriction = row.get("grant_restriction") or ""
            out["granted"] = [{
                "act": row["grant_act"], "restrictions": [restriction] if restriction else [],
                "start_date": row.get("grant_start_date") or None, "end_date": row.get("grant_end_date") or None,
                "note": row.get("grant_note") or "",
            }]
        return out

    @field_validator("basis")
    @classmethod
    def _basis(cls, value: str) -> str:
        for basis in RIGHTS_BASES:
            if value.strip().lower() == basis.lower():
                return basis
        raise ValueError(f"must be one of {', '.join(RIGHTS_BASES)}")


class RightsRecord(BaseModel):
    path: PackagePath = Field(description="`objects` for the whole package (every file), a directory or a file")
    statement: RightsStatementRecord


class RightsBulk(BaseModel):
    records: list[RightsRecord] = Field(max_length=MAX_BULK)


class IdentifierValue(BaseModel):
    type: str = Field(min_length=1, max_length=255, examples=["local", "hdl", "ark"])
    value: str = Field(min_length=1, max_length=4000)


class IdentifiersRecord(BaseModel):
    path: PackagePath
    identifiers: list[IdentifierValue]


class IdentifiersBulk(BaseModel):
    records: list[IdentifiersRecord] = Field(max_length=MAX_BULK)


class DirectoriesBulk(BaseModel):
    paths: list[PackagePath] = Field(max_length=MAX_BULK, examples=[["objects/empty", "objects/a/b"]])
    empty: bool = Field(default=True, description="Recorded as empty (listed in the Normative structMap).")


class DirectoryRead(BaseModel):
    uuid: UUID = Field(description="The directory's intellectual-entity UUID (derived from package and path).")
    path: str
    empty: bool


class StructMapUpload(BaseModel):
    xml: str = Field(max_length=10_000_000, description="A transfer's metadata/mets_structmap.xml (a METS "
                     "document or one mets:structMap; fptr FILEIDs are paths relative to objects/).")
    label: str | None = Field(default=None, max_length=255)


class StructMapRead(BaseModel):
    ordinal: int
    label: str | None
    structmaps: int = Field(description="mets:structMap elements kept from the document")


class AipPackageRecord(BaseModel):
    """The stored AIP file of a package: what its pointer file describes."""

    size: int = Field(ge=0)
    checksum: str = Field(min_length=1, max_length=128)
    checksum_type: str = Field(default="sha256", max_length=32)
    compression: Literal["7z-bzip2", "7z-lzma", "7z-copy", "tar-gzip", "tar-bzip2", "none"] = "7z-bzip2"
    program: str = Field(default="7-Zip", max_length=255)
    program_version: str = Field(default="", max_length=255)
    path: str = Field(default="", max_length=4096, description="Where the AIP is stored (URI or path).")
    created_at: AwareDatetime | None = None


class AipPackageRead(AipPackageRecord):
    package_uuid: UUID


class ValidationReport(BaseModel):
    valid: bool
    kind: str = Field(description="`mets` or `premis` (from the document's root)")
    errors: list[str] = Field(description="Every error, `line N: message`.")


class ImportResult(BaseModel):
    """What an import recorded (counts of records read; recording is idempotent, so a re-import adds nothing)."""

    premis_version: str = Field(default="", description="3.0 or 2.2, from the document's namespace")
    files: int = 0
    events: int = 0
    rights: int = 0
    unmatched: list[str] = Field(default_factory=list, description="Objects the package has no file for "
                                 "(first 100)")


# -- search -----------------------------------------------------------------------------------------------------

class SearchHit(BaseModel):
    kind: Literal["package", "file"]
    package_uuid: UUID
    package_name: str
    file_uuid: UUID | None = None
    path: str | None = None
    name: str
    puid: str | None = None
    format_name: str | None = None
    size: int | None = None
    date: dt.datetime | None = None


class IndexRequest(BaseModel):
    stored: bool = Field(default=True, description="The AIP is stored (its date is the index's date).")


class IndexStatus(BaseModel):
    package_uuid: UUID
    state: Literal["queued", "indexed", "failed", "removed"] = Field(
        description="`removed`: the AIP was deleted and left the index (indexed again only when asked again)."
    )
    indexed_at: dt.datetime | None = None
    error: str | None = None


class DescriptiveRead(BaseModel):
    path: str
    kind: Literal["dublin_core", "custom"]
    elements: dict[str, list[str]]


class RightsRead(BaseModel):
    uuid: UUID
    path: str
    statement: RightsStatementRecord


class IdentifierRead(BaseModel):
    path: str
    type: str
    value: str
