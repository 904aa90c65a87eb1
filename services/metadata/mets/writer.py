"""An AIP METS document (METS 1.12.1 with PREMIS 3.0) written element by element, in Archivematica's conventions.

Nothing here holds more than one file's metadata: the caller feeds files in chunks and drains the sink between
them, so a package of 100,000 files costs no more memory than one of ten. Section order and identifiers follow
Archivematica's AIP METS (metsHdr, the package's dmdSec, one amdSec per file, fileSec, physical structMap), so
tools that read Archivematica AIPs (metsrw, the Storage Service, its schematron) read ours.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import UUID

METS_NS = "http://www.loc.gov/METS/"
PREMIS_NS = "http://www.loc.gov/premis/v3"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
METS_SCHEMA_LOCATION = f"{METS_NS} http://www.loc.gov/standards/mets/version1121/mets.xsd"
PREMIS_SCHEMA_LOCATION = f"{PREMIS_NS} http://www.loc.gov/standards/premis/v3/premis.xsd"

M = f"{{{METS_NS}}}"
P = f"{{{PREMIS_NS}}}"
XSI_TYPE = f"{{{XSI_NS}}}type"
XSI_SCHEMA_LOCATION = f"{{{XSI_NS}}}schemaLocation"
XLINK_HREF = f"{{{XLINK_NS}}}href"
PREMIS_NSMAP = {"premis": PREMIS_NS}

# Archivematica's fileGrp order; any other use follows, alphabetically.
FILE_GROUP_ORDER = (
    "original",
    "submissionDocumentation",
    "preservation",
    "service",
    "access",
    "license",
    "text/ocr",
    "metadata",
    "derivative",
)
# Characters kept as they are in FLocat hrefs: RFC 3986 allows them in a path, and they are all that
# Archivematica's sanitized names contain, so its readers see identical hrefs. Everything else is
# percent-encoded, which metsrw (and any URI parser) decodes back to the stored path.
HREF_SAFE = "/()"
# Characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates, U+FFFE/FFFF). File names and tool
# output may hold them; they are shown as U+FFFD rather than failing a document already half sent.
NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    return NOT_XML.sub("\ufffd", value) if NOT_XML.search(value) else value


@dataclass(frozen=True, slots=True)
class MetsAgent:
    identifier_type: str
    identifier_value: str
    name: str
    agent_type: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.identifier_type, self.identifier_value)


@dataclass(frozen=True, slots=True)
class MetsEvent:
    uuid: UUID
    type: str
    datetime: dt.datetime
    detail: str
    outcome: str
    outcome_note: str
    agents: tuple[MetsAgent, ...]


@dataclass(frozen=True, slots=True)
class MetsFile:
    uuid: UUID
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


def ordered_uses(uses: Sequence[str]) -> list[str]:
    rank = {use: index for index, use in enumerate(FILE_GROUP_ORDER)}
    return sorted(set(uses), key=lambda use: (rank.get(use, len(rank)), use))


def mets_date(value: dt.datetime) -> str:
    """METS header dates: UTC to the second with no zone, as Archivematica (and metsrw's checks) expect."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


class ChunkSink:
    """The file object lxml writes into; the async side takes what was written and sends it on.

    lxml buffers its output (unbuffered, it would call `write` for every tag); `MetsWriter.flush` hands the
    buffer over, once per chunk of files, so memory holds one chunk's XML at most.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self._chunks.append(bytes(data))
        self.size += len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        self.size = 0
        return data


class MetsWriter:
    """Writes one AIP METS onto an `lxml.etree.xmlfile` writer, section by section.

    The caller must write the file amdSecs and the fileSec entries in the same order: amdSec ids are
    counted, as Archivematica numbers them, and the n-th fileSec entry points at `amdSec_n`.
    """

    def __init__(
        self,
        xf: Any,
        *,
        package_uuid: UUID,
        package_name: str,
        default_agents: Sequence[MetsAgent] = (),
    ) -> None:
        self.xf = xf
        self.package_uuid = package_uuid
        self.package_label = f"{package_name}-{package_uuid}"
        self.default_agents = tuple(default_agents)
        self.amd_secs = 0
        self.tech_mds = 0
        self.digiprov_mds = 0
        self.file_entries = 0
        self.package_dmd_id = "dmdSec_1"
        self._open_dirs: list[tuple[str, Any]] = []

    def flush(self) -> None:
        """Push what lxml has buffered into the sink (call before draining it)."""
        self.xf.flush()

    # -- small helpers --------------------------------------------------------------------------------

    def _leaf(self, tag: str, text: str | None, attrib: dict[str, str] | None = None) -> None:
        with self.xf.element(tag, attrib or {}):
            if text:
                self.xf.write(xml_text(text))

    @contextmanager
    def _md_wrap(self, section: str, section_id: str, mdtype: str) -> Iterator[None]:
        with (
            self.xf.element(f"{M}{section}", {"ID": section_id}),
            self.xf.element(f"{M}mdWrap", {"MDTYPE": mdtype}),
            self.xf.element(f"{M}xmlData"),
        ):
            yield

    def _premis(self, name: str, attrib: dict[str, str] | None = None) -> Any:
        return self.xf.element(
            f"{P}{name}",
            {**(attrib or {}), XSI_SCHEMA_LOCATION: PREMIS_SCHEMA_LOCATION, "version": "3.0"},
            nsmap=PREMIS_NSMAP,
        )

    # -- document ---------------------------------------------------------------------------------------

    @contextmanager
    def document(self, created: dt.datetime) -> Iterator[None]:
        self.xf.write_declaration()
        with self.xf.element(
            f"{M}mets",
            {XSI_SCHEMA_LOCATION: METS_SCHEMA_LOCATION},
            nsmap={"mets": METS_NS, "xlink": XLINK_NS, "xsi": XSI_NS},
        ):
            self.xf.write("\n")
            self._leaf(f"{M}metsHdr", None, {"CREATEDATE": mets_date(created)})
            self.xf.write("\n")
            self._package_dmd_sec(created)
            self.xf.write("\n")
            yield

    def _package_dmd_sec(self, created: dt.datetime) -> None:
        """The package as a PREMIS intellectual entity, attached to the structMap's root div."""
        with (
            self.xf.element(
                f"{M}dmdSec", {"ID": self.package_dmd_id, "CREATED": mets_date(created), "STATUS": "original"}
            ),
            self.xf.element(f"{M}mdWrap", {"MDTYPE": "PREMIS:OBJECT"}),
            self.xf.element(f"{M}xmlData"),
            self._premis("object", {XSI_TYPE: "premis:intellectualEntity"}),
        ):
            self._object_identifier(self.package_uuid)
            self._leaf(f"{P}originalName", self.package_label)

    # -- amdSecs ----------------------------------------------------------------------------------------

    def file_amd_sec(self, file: MetsFile, events: Sequence[MetsEvent]) -> str:
        """techMD (the PREMIS file object), then a digiprovMD per event and one per agent of those events."""
        self.amd_secs += 1
        amd_id = f"amdSec_{self.amd_secs}"
        with self.xf.element(f"{M}amdSec", {"ID": amd_id}):
            self.tech_mds += 1
            with self._md_wrap("techMD", f"techMD_{self.tech_mds}", "PREMIS:OBJECT"):
                self._file_object(file)
            self._provenance(events)
        self.xf.write("\n")
        return amd_id

    def _provenance(self, events: Sequence[MetsEvent]) -> None:
        agents: dict[tuple[str, str], MetsAgent] = {}
        for event in events:
            linked = self._agents_of(event)
            for agent in linked:
                agents.setdefault(agent.key, agent)
            self.digiprov_mds += 1
            with self._md_wrap("digiprovMD", f"digiprovMD_{self.digiprov_mds}", "PREMIS:EVENT"):
                self._event(event, linked)
        for agent in agents.values():
            self.digiprov_mds += 1
            with self._md_wrap("digiprovMD", f"digiprovMD_{self.digiprov_mds}", "PREMIS:AGENT"):
                self._agent(agent)

    def _agents_of(self, event: MetsEvent) -> list[MetsAgent]:
        """The event's own agents, plus the configured system and organization agents of any kind it lacks.

        Archivematica likewise attributes every event to the preservation system and the repository.
        """
        agents = list(event.agents)
        kinds = {agent.identifier_type for agent in agents}
        agents.extend(agent for agent in self.default_agents if agent.identifier_type not in kinds)
        return agents

    def _object_identifier(self, uuid: UUID) -> None:
        with self.xf.element(f"{P}objectIdentifier"):
            self._leaf(f"{P}objectIdentifierType", "UUID")
            self._leaf(f"{P}objectIdentifierValue", str(uuid))

    def _file_object(self, file: MetsFile) -> None:
        leaf = self._leaf
        with self._premis("object", {XSI_TYPE: "premis:file"}):
            self._object_identifier(file.uuid)
            with self.xf.element(f"{P}objectCharacteristics"):
                leaf(f"{P}compositionLevel", "0")
                with self.xf.element(f"{P}fixity"):
                    leaf(f"{P}messageDigestAlgorithm", file.checksum_type)
                    leaf(f"{P}messageDigest", file.checksum)
                leaf(f"{P}size", str(file.size))
                with self.xf.element(f"{P}format"):
                    known = file.format_name and file.format_name != "Unknown"
                    with self.xf.element(f"{P}formatDesignation"):
                        leaf(f"{P}formatName", file.format_name if known else (file.puid or "Unknown"))
                        if known and file.format_version:
                            leaf(f"{P}formatVersion", file.format_version)
                    if file.puid:
                        with self.xf.element(f"{P}formatRegistry"):
                            leaf(f"{P}formatRegistryName", "PRONOM")
                            leaf(f"{P}formatRegistryKey", file.puid)
                    if file.format_basis:
                        leaf(f"{P}formatNote", file.format_basis)
                if file.modified_at is not None:
                    with self.xf.element(f"{P}creatingApplication"):
                        leaf(
                            f"{P}dateCreatedByApplication",
                            file.modified_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        )
            leaf(f"{P}originalName", file.original_name)

    def _event(self, event: MetsEvent, agents: Sequence[MetsAgent]) -> None:
        leaf = self._leaf
        with self._premis("event"):
            with self.xf.element(f"{P}eventIdentifier"):
                leaf(f"{P}eventIdentifierType", "UUID")
                leaf(f"{P}eventIdentifierValue", str(event.uuid))
            leaf(f"{P}eventType", event.type)
            leaf(f"{P}eventDateTime", event.datetime.astimezone(dt.UTC).isoformat())
            with self.xf.element(f"{P}eventDetailInformation"):
                leaf(f"{P}eventDetail", event.detail)
            with self.xf.element(f"{P}eventOutcomeInformation"):
                leaf(f"{P}eventOutcome", event.outcome)
                with self.xf.element(f"{P}eventOutcomeDetail"):
                    leaf(f"{P}eventOutcomeDetailNote", event.outcome_note)
            for agent in agents:
                with self.xf.element(f"{P}linkingAgentIdentifier"):
                    leaf(f"{P}linkingAgentIdentifierType", agent.identifier_type)
                    leaf(f"{P}linkingAgentIdentifierValue", agent.identifier_value)

    def _agent(self, agent: MetsAgent) -> None:
        leaf = self._leaf
        with self._premis("agent"):
            with self.xf.element(f"{P}agentIdentifier"):
                leaf(f"{P}agentIdentifierType", agent.identifier_type)
                leaf(f"{P}agentIdentifierValue", agent.identifier_value)
            leaf(f"{P}agentName", agent.name)
            leaf(f"{P}agentType", agent.agent_type)

    # -- fileSec ----------------------------------------------------------------------------------------

    @contextmanager
    def file_sec(self) -> Iterator[None]:
        with self.xf.element(f"{M}fileSec"):
            self.xf.write("\n")
            yield
        self.xf.write("\n")

    @contextmanager
    def file_group(self, use: str) -> Iterator[None]:
        with self.xf.element(f"{M}fileGrp", {"USE": use}):
            self.xf.write("\n")
            yield
        self.xf.write("\n")

    def file_entry(self, file: MetsFile) -> None:
        self.file_entries += 1
        attrib = {"ID": f"file-{file.uuid}", "GROUPID": f"Group-{file.uuid}", "ADMID": f"amdSec_{self.file_entries}"}
        with self.xf.element(f"{M}file", attrib):
            self._leaf(
                f"{M}FLocat",
                None,
                {XLINK_HREF: quote(file.path, safe=HREF_SAFE), "LOCTYPE": "OTHER", "OTHERLOCTYPE": "SYSTEM"},
            )
        self.xf.write("\n")

    # -- structMap --------------------------------------------------------------------------------------

    @contextmanager
    def physical_struct_map(self) -> Iterator[None]:
        """The package's directory tree; feed `struct_item` every file in byte order of path."""
        root = {"TYPE": "Directory", "LABEL": xml_text(self.package_label), "DMDID": self.package_dmd_id}
        with (
            self.xf.element(
                f"{M}structMap", {"TYPE": "physical", "ID": "structMap_1", "LABEL": "Archivematica default"}
            ),
            self.xf.element(f"{M}div", root),
        ):
            self.xf.write("\n")
            try:
                yield
            finally:
                self._close_dirs(0)
        self.xf.write("\n")

    def struct_item(self, file: MetsFile) -> None:
        """Place one file, opening and closing directory divs as the path-ordered stream moves through the tree.

        Byte order of paths keeps every directory's files contiguous ("a/..." sorts as one run), so a stack of
        open directories is all the state this needs.
        """
        *dirs, name = file.path.split("/")
        common = 0
        while common < len(dirs) and common < len(self._open_dirs) and self._open_dirs[common][0] == dirs[common]:
            common += 1
        self._close_dirs(common)
        for directory in dirs[common:]:
            element = self.xf.element(f"{M}div", {"TYPE": "Directory", "LABEL": xml_text(directory)})
            element.__enter__()
            self.xf.write("\n")
            self._open_dirs.append((directory, element))
        with self.xf.element(f"{M}div", {"TYPE": "Item", "LABEL": xml_text(name)}):
            self._leaf(f"{M}fptr", None, {"FILEID": f"file-{file.uuid}"})
        self.xf.write("\n")

    def _close_dirs(self, keep: int) -> None:
        while len(self._open_dirs) > keep:
            _, element = self._open_dirs.pop()
            element.__exit__(None, None, None)
            self.xf.write("\n")
