"""An AIP METS document (METS 1.12.1 with PREMIS 3.0) written piece by piece, in Archivematica's conventions.

Nothing here holds more than one file's metadata: the caller feeds files in chunks and sends on what was written
between them, so a package of 100,000 files costs no more memory than one of ten. Section order and identifiers
follow Archivematica's AIP METS (metsHdr, dmdSecs, one amdSec per file, fileSec, physical structMap, the
"Normative Directory Structure" structMap, custom structMaps), so tools that read Archivematica AIPs (metsrw, the
Storage Service, its schematron) read ours.

The markup is produced from string templates with every value escaped, not through an XML serializer: the
document's shape is fixed, and building a hundred thousand amdSecs tag by tag through lxml cost most of the time.
The tests validate the output against the METS, PREMIS and DC schemas and read it back with metsrw.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from uuid import UUID

from lxml import etree

from clients.metadata.schemas import DELETED_USE, MAX_CHARACTERISTICS_BYTES
from servicekit.problems import Problem
from services.metadata.mets import safexml

METS_NS = "http://www.loc.gov/METS/"
PREMIS_NS = "http://www.loc.gov/premis/v3"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
DC_NS = "http://purl.org/dc/elements/1.1/"
DCTERMS_NS = "http://purl.org/dc/terms/"
METS_SCHEMA_LOCATION = f"{METS_NS} http://www.loc.gov/standards/mets/version1121/mets.xsd"
PREMIS_SCHEMA_LOCATION = f"{PREMIS_NS} http://www.loc.gov/standards/premis/v3/premis.xsd"
DCTERMS_SCHEMA_LOCATION = f"{DCTERMS_NS} http://dublincore.org/schemas/xmls/qdc/2008/02/11/dcterms.xsd"
XML_NS = "http://www.w3.org/XML/1998/namespace"
# Our own vocabulary, for tool output that cannot be embedded as XML. No schema describes it, so the PREMIS
# extension's lax wildcard lets it through unchecked.
AMBER_NS = "https://amber.example/xmlns/characterization"
# Vocabularies the AIP METS is validated against. The extension's lax wildcard checks any element of theirs it
# meets, at any depth, so tool output using them (or xsi:type, or xml:id, which must be unique document-wide)
# could make the METS invalid: such output is kept as text instead.
VALIDATED_NAMESPACES = frozenset({METS_NS, PREMIS_NS, XLINK_NS, DC_NS, DCTERMS_NS, "http://purl.org/dc/dcmitype/"})
UNSAFE_ATTRIBUTES = frozenset({f"{{{XSI_NS}}}type", f"{{{XSI_NS}}}nil", f"{{{XML_NS}}}id"})
# A document can only use a namespace whose name it spells out (or hides in a character reference): output
# naming none of these is embedded without walking its elements, which took a third of the time the METS took.
_MENTIONS_UNSAFE = re.compile(
    "|".join(re.escape(name) for name in sorted(VALIDATED_NAMESPACES | {XSI_NS, XML_NS, "xml:id", "&#"}))
)

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
# The fifteen DC elements (dc:*); other `dcterms.*` refinements Archivematica accepts go in the dcterms namespace.
DC_ELEMENTS = frozenset({
    "title", "creator", "subject", "description", "publisher", "contributor", "date", "type", "format",
    "identifier", "source", "relation", "language", "coverage", "rights",
})
DCTERMS_ELEMENTS = frozenset({"isPartOf", "alternative", "abstract", "created", "issued", "spatial", "temporal",
                              "extent", "medium", "hasPart", "isVersionOf", "hasVersion", "license", "audience",
                              "provenance", "rightsHolder", "accessRights", "bibliographicCitation"})
# Characters kept as they are in FLocat hrefs: RFC 3986 allows them in a path, and they are all that
# Archivematica's sanitized names contain, so its readers see identical hrefs. Everything else is
# percent-encoded, which metsrw (and any URI parser) decodes back to the stored path.
HREF_SAFE = "/()"
# Characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates, U+FFFE/FFFF). File names and tool
# output may hold them; they are shown as U+FFFD rather than failing a document already half sent.
NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NEEDS_ESCAPE = re.compile(r'[&<>"\r\t\n]')
# One search tells clean text (nearly all of it) from text that needs escaping or replacing.
_SPECIAL = re.compile('[&<>\r]|[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')
_ATTR_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\t": "&#9;", "\n": "&#10;"}
_TEXT_ESCAPES = {**_ATTR_ESCAPES, '"': '"', "\t": "\t", "\n": "\n"}
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")

# The premis prefix is declared once, on the root: repeated on each of the ~9 PREMIS elements per file it took
# 400 bytes of every file's ~14 KB, which the AIP then stored, validated and compressed. A namespace-aware reader
# (metsrw, lxml) sees the same names either way, and lxml carries the root's declaration along when a PREMIS
# element is taken out of the document. The schema location stays on each element wrapped in an mdWrap, as
# Archivematica's schematron requires, except on agents, which it exempts (the root names it for them).
PREMIS_NS_ATTRS = f'xsi:schemaLocation="{PREMIS_SCHEMA_LOCATION}"'
PREMIS_ROOT_ATTRS = f'{PREMIS_NS_ATTRS} version="3.0"'
PREMIS_AGENT_ATTRS = 'version="3.0"'


def xml_text(value: str) -> str:
    return NOT_XML.sub("\ufffd", value) if NOT_XML.search(value) else value


def esc(value: object) -> str:
    """Text content, escaped (and made representable in XML 1.0)."""
    text = value if isinstance(value, str) else str(value)
    if _SPECIAL.search(text) is None:
        return text
    text = xml_text(text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def attr(value: object) -> str:
    """An attribute value, escaped for double quotes."""
    text = xml_text(str(value))
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return "".join(_ATTR_ESCAPES.get(char, char) for char in text)


def element_name(column: str) -> str:
    """An XML name for a custom metadata column (Archivematica's custom dmdSecs use the column as the tag)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", column.strip()) or "field"
    return name if _XML_NAME.match(name) else f"_{name}"


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
    uuid: UUID | str
    type: str
    datetime: dt.datetime
    detail: str
    outcome: str
    outcome_note: str
    agents: tuple[MetsAgent, ...]


@dataclass(frozen=True, slots=True)
class MetsCharacteristics:
    tool: str
    version: str
    xml: str
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class MetsFile:
    uuid: UUID | str
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
    relationships: tuple[Mapping[str, Any], ...] = ()
    composition_level: int = 0
    characteristics: tuple[MetsCharacteristics, ...] = ()


@dataclass(frozen=True, slots=True)
class MetsRights:
    uuid: UUID
    statement: Mapping[str, Any]


@dataclass(slots=True)
class PathMetadata:
    """What a file's amdSec needs beyond the file row: its identifiers and the rights that apply to it."""

    identifiers: list[tuple[str, str]] = field(default_factory=list)
    rights: list[MetsRights] = field(default_factory=list)


def ordered_uses(uses: Sequence[str]) -> list[str]:
    """Archivematica's fileGrp order, then other uses alphabetically, then `deleted` (files not in the AIP)."""
    rank = {use: index for index, use in enumerate(FILE_GROUP_ORDER)}
    rank[DELETED_USE] = len(rank) + 1
    return sorted(set(uses), key=lambda use: (rank.get(use, len(FILE_GROUP_ORDER)), use))


def mets_date(value: dt.datetime) -> str:
    """METS header dates: UTC to the second with no zone, as Archivematica (and metsrw's checks) expect."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def premis_date(value: str | None) -> str:
    """PREMIS 3 (EDTF) start/end dates; Archivematica's "open" end date is written OPEN."""
    if value is None or not value.strip():
        return "OPEN"
    return "OPEN" if value.strip().lower() == "open" else value.strip()


def _leaf(tag: str, text: object) -> str:
    # An empty element self-closed: the same to any XML reader, and empty notes and outcomes are common.
    if text == "":
        return f"<{tag}/>"
    return f"<{tag}>{esc(text)}</{tag}>"


class MetsWriter:
    """Produces one AIP METS, section by section, as strings handed to `out`.

    The caller must write the file amdSecs and the fileSec entries in the same order: amdSec ids are
    counted, as Archivematica numbers them, and the n-th fileSec entry points at `amdSec_n`.
    """

    def __init__(
        self,
        out: Callable[[str], None],
        *,
        package_uuid: UUID,
        package_name: str,
        default_agents: Sequence[MetsAgent] = (),
    ) -> None:
        self.out = out
        self.package_uuid = package_uuid
        self.package_label = f"{package_name}-{package_uuid}"
        self.default_agents = tuple(default_agents)
        self.dmd_secs = 0
        self.amd_secs = 0
        self.tech_mds = 0
        self.rights_mds = 0
        self.digiprov_mds = 0
        self.file_entries = 0
        self.struct_maps = 0
        self.package_dmd_id = "dmdSec_1"
        self._agent_xml: dict[tuple[str, str], str] = {}
        self._links_xml: dict[tuple[MetsAgent, ...], str] = {}
        self._event_head: dict[tuple[str, str], tuple[str, str]] = {}
        self._created = ""

    # -- document ---------------------------------------------------------------------------------------

    def open_document(self, created: dt.datetime) -> None:
        self._created = mets_date(created)
        self.out(
            '<?xml version=\'1.0\' encoding=\'utf-8\'?>\n'
            f'<mets:mets xmlns:mets="{METS_NS}" xmlns:premis="{PREMIS_NS}" xmlns:xlink="{XLINK_NS}" '
            f'xmlns:xsi="{XSI_NS}" xsi:schemaLocation="{METS_SCHEMA_LOCATION} {PREMIS_SCHEMA_LOCATION}">\n'
            f'<mets:metsHdr CREATEDATE="{self._created}"/>\n'
        )

    def close_document(self) -> None:
        self.out("</mets:mets>\n")

    def _next_dmd(self) -> str:
        self.dmd_secs += 1
        return f"dmdSec_{self.dmd_secs}"

    def entity_dmd_sec(self, uuid: UUID, original_name: str, identifiers: Sequence[tuple[str, str]] = ()) -> str:
        """A PREMIS intellectual entity (the package, or a directory) in a dmdSec; returns its id."""
        dmd_id = self._next_dmd()
        ids = "".join(
            f"<premis:objectIdentifier>{_leaf('premis:objectIdentifierType', kind)}"
            f"{_leaf('premis:objectIdentifierValue', value)}</premis:objectIdentifier>"
            for kind, value in identifiers
        )
        self.out(
            f'<mets:dmdSec ID="{dmd_id}" CREATED="{self._created}" STATUS="original">'
            '<mets:mdWrap MDTYPE="PREMIS:OBJECT"><mets:xmlData>'
            f'<premis:object xsi:type="premis:intellectualEntity" {PREMIS_ROOT_ATTRS}>'
            f"<premis:objectIdentifier><premis:objectIdentifierType>UUID</premis:objectIdentifierType>"
            f"<premis:objectIdentifierValue>{uuid}</premis:objectIdentifierValue></premis:objectIdentifier>{ids}"
            f"{_leaf('premis:originalName', original_name)}"
            "</premis:object></mets:xmlData></mets:mdWrap></mets:dmdSec>\n"
        )
        return dmd_id

    def dublin_core_dmd_sec(self, elements: Mapping[str, Sequence[str]]) -> str:
        """DC from metadata.csv, as Archivematica writes it: `dcterms:dublincore` holding dc:* elements."""
        parts: list[str] = []
        custom: dict[str, Sequence[str]] = {}
        for column, values in elements.items():
            prefix, _, name = column.partition(".")
            if prefix == "dc" and name in DC_ELEMENTS:
                tag = f"dc:{name}"
            elif prefix in ("dc", "dcterms") and name in DCTERMS_ELEMENTS:
                tag = f"dcterms:{name}"
            else:
                custom[column] = values
                continue
            parts.extend(_leaf(tag, value) for value in values)
        dmd_id = self._next_dmd()
        self.out(
            f'<mets:dmdSec ID="{dmd_id}" CREATED="{self._created}" STATUS="original">'
            '<mets:mdWrap MDTYPE="DC"><mets:xmlData>'
            f'<dcterms:dublincore xmlns:dc="{DC_NS}" xmlns:dcterms="{DCTERMS_NS}" '
            f'xsi:schemaLocation="{DCTERMS_SCHEMA_LOCATION}">{"".join(parts)}</dcterms:dublincore>'
            "</mets:xmlData></mets:mdWrap></mets:dmdSec>\n"
        )
        return dmd_id

    def custom_dmd_sec(self, elements: Mapping[str, Sequence[str]]) -> str:
        """Non-DC columns of metadata.csv: MDTYPE OTHER / OTHERMDTYPE CUSTOM, one element per value."""
        parts = [
            _leaf(element_name(column), value) for column, values in elements.items() for value in values
        ]
        dmd_id = self._next_dmd()
        self.out(
            f'<mets:dmdSec ID="{dmd_id}" CREATED="{self._created}" STATUS="original">'
            '<mets:mdWrap MDTYPE="OTHER" OTHERMDTYPE="CUSTOM"><mets:xmlData>'
            f'{"".join(parts)}</mets:xmlData></mets:mdWrap></mets:dmdSec>\n'
        )
        return dmd_id

    # -- amdSecs ----------------------------------------------------------------------------------------

    def file_amd_sec(
        self, file: MetsFile, events: Sequence[MetsEvent], extra: PathMetadata | None = None
    ) -> str:
        """techMD (the PREMIS file object), rightsMDs, then a digiprovMD per event and one per agent."""
        self.amd_secs += 1
        amd_id = f"amdSec_{self.amd_secs}"
        self.tech_mds += 1
        parts = [
            f'<mets:amdSec ID="{amd_id}"><mets:techMD ID="techMD_{self.tech_mds}">'
            '<mets:mdWrap MDTYPE="PREMIS:OBJECT"><mets:xmlData>',
            self._file_object(file, extra.identifiers if extra else ()),
            "</mets:xmlData></mets:mdWrap></mets:techMD>",
        ]
        if extra:
            for rights in extra.rights:
                self.rights_mds += 1
                parts.append(
                    f'<mets:rightsMD ID="rightsMD_{self.rights_mds}"><mets:mdWrap MDTYPE="PREMIS:RIGHTS">'
                    f"<mets:xmlData>{rights_statement(rights, file.uuid)}</mets:xmlData></mets:mdWrap>"
                    "</mets:rightsMD>"
                )
        parts.extend(self._digiprov(events))
        parts.append("</mets:amdSec>\n")
        self.out("".join(parts))
        return amd_id

    def package_amd_sec(self, events: Sequence[MetsEvent]) -> str:
        """The events about the package as a whole (the transfer bag's fixity check, junk removed at intake, names
        changed in its logs), each with its agents, in an amdSec of their own; returns its id."""
        self.amd_secs += 1
        amd_id = f"amdSec_{self.amd_secs}"
        self.tech_mds += 1
        # The techMD names the package the events are about (Archivematica's rules want one in every amdSec).
        self.out(
            f'<mets:amdSec ID="{amd_id}"><mets:techMD ID="techMD_{self.tech_mds}">'
            '<mets:mdWrap MDTYPE="PREMIS:OBJECT"><mets:xmlData>'
            f'<premis:object xsi:type="premis:intellectualEntity" {PREMIS_ROOT_ATTRS}>'
            "<premis:objectIdentifier><premis:objectIdentifierType>UUID</premis:objectIdentifierType>"
            f"<premis:objectIdentifierValue>{self.package_uuid}</premis:objectIdentifierValue>"
            f"</premis:objectIdentifier>{_leaf('premis:originalName', self.package_label)}</premis:object>"
            f'</mets:xmlData></mets:mdWrap></mets:techMD>{"".join(self._digiprov(events))}</mets:amdSec>\n'
        )
        return amd_id

    def _digiprov(self, events: Sequence[MetsEvent]) -> list[str]:
        """A digiprovMD per event, then one per agent of any of them."""
        parts = []
        agents: dict[tuple[str, str], MetsAgent] = {}
        for event in events:
            linked = self._agents_of(event)
            for agent in linked:
                agents.setdefault(agent.key, agent)
            self.digiprov_mds += 1
            parts.append(
                f'<mets:digiprovMD ID="digiprovMD_{self.digiprov_mds}"><mets:mdWrap MDTYPE="PREMIS:EVENT">'
                f"<mets:xmlData>{self._event(event, linked)}</mets:xmlData></mets:mdWrap></mets:digiprovMD>"
            )
        for agent in agents.values():
            self.digiprov_mds += 1
            parts.append(f'<mets:digiprovMD ID="digiprovMD_{self.digiprov_mds}">{self._agent(agent)}')
        return parts

    def _agents_of(self, event: MetsEvent) -> Sequence[MetsAgent]:
        """The event's own agents, plus the configured system and organization agents of any kind it lacks.

        Archivematica likewise attributes every event to the preservation system and the repository.
        """
        if not self.default_agents:
            return event.agents
        kinds = {agent.identifier_type for agent in event.agents}
        return event.agents + tuple(a for a in self.default_agents if a.identifier_type not in kinds)

    def _file_object(self, file: MetsFile, identifiers: Sequence[tuple[str, str]]) -> str:
        known = file.format_name and file.format_name != "Unknown"
        designation = _leaf("premis:formatName", file.format_name if known else (file.puid or "Unknown"))
        if known and file.format_version:
            designation += _leaf("premis:formatVersion", file.format_version)
        fmt = f"<premis:formatDesignation>{designation}</premis:formatDesignation>"
        if file.puid:
            fmt += (
                "<premis:formatRegistry><premis:formatRegistryName>PRONOM</premis:formatRegistryName>"
                f"{_leaf('premis:formatRegistryKey', file.puid)}</premis:formatRegistry>"
            )
        if file.format_basis:
            fmt += _leaf("premis:formatNote", file.format_basis)
        application = ""
        if file.creating_application:
            application += _leaf("premis:creatingApplicationName", file.creating_application)
            if file.creating_application_version:
                application += _leaf("premis:creatingApplicationVersion", file.creating_application_version)
        if file.modified_at is not None:
            application += (
                "<premis:dateCreatedByApplication>"
                f"{file.modified_at.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
                "</premis:dateCreatedByApplication>"
            )
        if application:
            application = f"<premis:creatingApplication>{application}</premis:creatingApplication>"
        extra_ids = "".join(
            f"<premis:objectIdentifier>{_leaf('premis:objectIdentifierType', kind)}"
            f"{_leaf('premis:objectIdentifierValue', value)}</premis:objectIdentifier>"
            for kind, value in identifiers
        )
        relationships = "".join(_relationship(r) for r in file.relationships)
        extensions = "".join(characteristics_extension(record) for record in file.characteristics)
        return (
            f'<premis:object xsi:type="premis:file" {PREMIS_ROOT_ATTRS}>'
            "<premis:objectIdentifier><premis:objectIdentifierType>UUID</premis:objectIdentifierType>"
            f"<premis:objectIdentifierValue>{file.uuid}</premis:objectIdentifierValue></premis:objectIdentifier>"
            f"{extra_ids}<premis:objectCharacteristics>"
            f"<premis:compositionLevel>{file.composition_level}</premis:compositionLevel>"
            f"<premis:fixity>{_leaf('premis:messageDigestAlgorithm', file.checksum_type)}"
            f"{_leaf('premis:messageDigest', file.checksum)}</premis:fixity>"
            f"<premis:size>{file.size}</premis:size><premis:format>{fmt}</premis:format>{application}{extensions}"
            f"</premis:objectCharacteristics>{_leaf('premis:originalName', file.original_name)}"
            f"{relationships}</premis:object>"
        )

    def _event(self, event: MetsEvent, agents: Sequence[MetsAgent]) -> str:
        # Types, details and agent lists repeat across every file: their markup is made once per document.
        links = self._links_xml.get(tuple(agents))
        if links is None:
            links = self._links_xml[tuple(agents)] = "".join(
                "<premis:linkingAgentIdentifier>"
                f"{_leaf('premis:linkingAgentIdentifierType', agent.identifier_type)}"
                f"{_leaf('premis:linkingAgentIdentifierValue', agent.identifier_value)}"
                "</premis:linkingAgentIdentifier>"
                for agent in agents
            )
        head_key = (event.type, event.detail)
        head = self._event_head.get(head_key)
        if head is None:
            if len(self._event_head) > 10_000:  # details that never repeat must not accumulate
                self._event_head.clear()
            head = self._event_head[head_key] = (
                f"{_leaf('premis:eventType', event.type)}",
                f"<premis:eventDetailInformation>{_leaf('premis:eventDetail', event.detail)}"
                "</premis:eventDetailInformation>",
            )
        return (
            f"<premis:event {PREMIS_ROOT_ATTRS}><premis:eventIdentifier>"
            "<premis:eventIdentifierType>UUID</premis:eventIdentifierType>"
            f"<premis:eventIdentifierValue>{event.uuid}</premis:eventIdentifierValue></premis:eventIdentifier>"
            f"{head[0]}<premis:eventDateTime>{event.datetime.astimezone(dt.UTC).isoformat()}</premis:eventDateTime>"
            f"{head[1]}<premis:eventOutcomeInformation>"
            f"{_leaf('premis:eventOutcome', event.outcome)}<premis:eventOutcomeDetail>"
            f"{_leaf('premis:eventOutcomeDetailNote', event.outcome_note)}</premis:eventOutcomeDetail>"
            f"</premis:eventOutcomeInformation>{links}</premis:event>"
        )

    def _agent(self, agent: MetsAgent) -> str:
        """An agent's mdWrap, serialized once per document: agents repeat in every file's amdSec."""
        xml = self._agent_xml.get(agent.key)
        if xml is None:
            xml = (
                f'<mets:mdWrap MDTYPE="PREMIS:AGENT"><mets:xmlData><premis:agent {PREMIS_AGENT_ATTRS}>'
                f"<premis:agentIdentifier>{_leaf('premis:agentIdentifierType', agent.identifier_type)}"
                f"{_leaf('premis:agentIdentifierValue', agent.identifier_value)}</premis:agentIdentifier>"
                f"{_leaf('premis:agentName', agent.name)}{_leaf('premis:agentType', agent.agent_type)}"
                "</premis:agent></mets:xmlData></mets:mdWrap></mets:digiprovMD>"
            )
            self._agent_xml[agent.key] = xml
        return xml

    # -- fileSec ----------------------------------------------------------------------------------------

    def open_file_sec(self) -> None:
        self.out("<mets:fileSec>\n")

    def close_file_sec(self) -> None:
        self.out("</mets:fileSec>\n")

    def open_file_group(self, use: str) -> None:
        self.out(f'<mets:fileGrp USE="{attr(use)}">\n')

    def close_file_group(self) -> None:
        self.out("</mets:fileGrp>\n")

    def file_entry(self, file: MetsFile) -> None:
        self.file_entries += 1
        group = file.uuid
        for relationship in file.relationships:
            if relationship.get("subtype") == "has source":
                group = relationship["related_object_uuid"]
                break
        head = f'<mets:file ID="file-{file.uuid}" GROUPID="Group-{group}" ADMID="amdSec_{self.file_entries}"'
        if file.use == DELETED_USE:  # removed from the SIP: there are no bytes in the AIP to locate
            self.out(f"{head}/>\n")
            return
        self.out(
            f'{head}><mets:FLocat xlink:href="{attr(quote(file.path, safe=HREF_SAFE))}" LOCTYPE="OTHER" '
            'OTHERLOCTYPE="SYSTEM"/></mets:file>\n'
        )

    # -- structMaps -------------------------------------------------------------------------------------

    def open_struct_map(self, kind: str, label: str) -> StructMapBuilder:
        self.struct_maps += 1
        self.out(
            f'<mets:structMap TYPE="{kind}" ID="structMap_{self.struct_maps}" LABEL="{attr(label)}">\n'
            f'<mets:div TYPE="Directory" LABEL="{attr(self.package_label)}" DMDID="{self.package_dmd_id}">\n'
        )
        return StructMapBuilder(self.out)

    def close_struct_map(self, builder: StructMapBuilder) -> None:
        builder.close_all()
        self.out("</mets:div>\n</mets:structMap>\n")

    def raw_struct_map(self, xml: str) -> None:
        """A custom structMap, already checked and rewritten (ids, FILEIDs) by the caller."""
        self.struct_maps += 1
        self.out(xml.replace("__STRUCTMAP_ID__", f"structMap_{self.struct_maps}") + "\n")


class StructMapBuilder:
    """A directory tree from entries fed in byte order of path (directories keyed `path/`).

    That order keeps every directory's entries contiguous, so a stack of open directories is all the state.
    """

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self._open: list[str] = []
        self.dmd_for: Callable[[str], Sequence[str] | None] = lambda _path: None
        self.adm_of: dict[str, str] = {}  # path -> amdSec id (the package's events, on the objects div)

    def _descend(self, dirs: Sequence[str]) -> None:
        common = 0
        while common < len(dirs) and common < len(self._open) and self._open[common] == dirs[common]:
            common += 1
        self._close(common)
        for directory in dirs[common:]:
            self._open.append(directory)
            dmd_ids = self.dmd_for("/".join(self._open))
            dmd = f' DMDID="{" ".join(dmd_ids)}"' if dmd_ids else ""
            self.out(f'<mets:div TYPE="Directory" LABEL="{attr(directory)}"{dmd}{self._adm("/".join(self._open))}>\n')

    def _adm(self, path: str) -> str:
        adm_id = self.adm_of.get(path)
        return f' ADMID="{adm_id}"' if adm_id else ""

    def _close(self, keep: int) -> None:
        while len(self._open) > keep:
            self._open.pop()
            self.out("</mets:div>\n")

    def directory(self, path: str, dmd_ids: Sequence[str] = (), *, empty: bool = False) -> None:
        *parents, name = path.split("/")
        self._descend(parents)
        dmd = f' DMDID="{" ".join(dmd_ids)}"' if dmd_ids else ""
        dmd += self._adm(path)
        if empty:
            self.out(f'<mets:div TYPE="Directory" LABEL="{attr(name)}"{dmd}/>\n')
        else:
            self.out(f'<mets:div TYPE="Directory" LABEL="{attr(name)}"{dmd}>\n')
            self._open.append(name)

    def item(self, path: str, file_id: str | None, dmd_ids: Sequence[str] = ()) -> None:
        *dirs, name = path.split("/")
        self._descend(dirs)
        dmd = f' DMDID="{" ".join(dmd_ids)}"' if dmd_ids else ""
        if file_id is None:
            self.out(f'<mets:div TYPE="Item" LABEL="{attr(name)}"{dmd}/>\n')
        else:
            self.out(f'<mets:div TYPE="Item" LABEL="{attr(name)}"{dmd}><mets:fptr FILEID="{file_id}"/></mets:div>\n')

    def close_all(self) -> None:
        self._close(0)


def characteristics_extension(record: MetsCharacteristics) -> str:
    """A premis:objectCharacteristicsExtension holding the tool's XML root element, or, when that cannot be
    embedded (truncated, not well-formed, unsafe, or using a validated vocabulary), the output as escaped text in
    an element of our own namespace: the METS stays valid either way and nothing of the output is lost."""
    embedded = None if record.truncated else _tool_root(record.xml)
    if embedded is None:
        embedded = (
            f'<amber:toolOutput xmlns:amber="{AMBER_NS}" tool="{attr(record.tool)}" version="{attr(record.version)}" '
            f'truncated="{"true" if record.truncated else "false"}">{esc(record.xml)}</amber:toolOutput>'
        )
    return f"<premis:objectCharacteristicsExtension>{embedded}</premis:objectCharacteristicsExtension>"


def _tool_root(xml: str) -> str | None:
    """The output's root element, re-serialized; None if it does not parse safely or could break validation."""
    try:
        # The text is already decoded: an encoding its declaration names no longer applies.
        root = safexml.parse_bytes(xml.encode(errors="replace"), MAX_CHARACTERISTICS_BYTES, encoding="utf-8")
    except Problem:
        return None
    if _MENTIONS_UNSAFE.search(xml) is None:
        return etree.tostring(root, encoding="unicode")
    for element in root.iter():
        if not isinstance(element.tag, str):  # comments and processing instructions
            continue
        if etree.QName(element).namespace in VALIDATED_NAMESPACES:
            return None
        for name in element.attrib:
            if name in UNSAFE_ATTRIBUTES or (name.startswith("{") and name[1:].split("}")[0] in VALIDATED_NAMESPACES):
                return None
    return etree.tostring(root, encoding="unicode")


def _relationship(relationship: Mapping[str, Any]) -> str:
    event = ""
    if relationship.get("related_event_uuid"):
        event = (
            "<premis:relatedEventIdentifier><premis:relatedEventIdentifierType>UUID"
            "</premis:relatedEventIdentifierType><premis:relatedEventIdentifierValue>"
            f"{esc(relationship['related_event_uuid'])}</premis:relatedEventIdentifierValue>"
            "</premis:relatedEventIdentifier>"
        )
    return (
        f"<premis:relationship>{_leaf('premis:relationshipType', relationship.get('type') or 'derivation')}"
        f"{_leaf('premis:relationshipSubType', relationship.get('subtype') or '')}"
        "<premis:relatedObjectIdentifier><premis:relatedObjectIdentifierType>UUID"
        "</premis:relatedObjectIdentifierType><premis:relatedObjectIdentifierValue>"
        f"{esc(relationship['related_object_uuid'])}</premis:relatedObjectIdentifierValue>"
        f"</premis:relatedObjectIdentifier>{event}</premis:relationship>"
    )


def _dates(tag: str, start: str | None, end: str | None) -> str:
    if not start and not end:
        return ""
    return f"<{tag}>{_leaf('premis:startDate', premis_date(start))}{_leaf('premis:endDate', premis_date(end))}</{tag}>"


def _documentation(prefix: str, docs: Sequence[Mapping[str, Any]]) -> str:
    out = []
    for doc in docs:
        role = _leaf(f"premis:{prefix}DocumentationRole", doc["role"]) if doc.get("role") else ""
        out.append(
            f"<premis:{prefix}DocumentationIdentifier>"
            f"{_leaf(f'premis:{prefix}DocumentationIdentifierType', doc.get('type', ''))}"
            f"{_leaf(f'premis:{prefix}DocumentationIdentifierValue', doc.get('value', ''))}{role}"
            f"</premis:{prefix}DocumentationIdentifier>"
        )
    return "".join(out)


def rights_statement(rights: MetsRights, object_uuid: UUID | str | None) -> str:
    """A PREMIS 3 rightsStatement from a stored statement (see clients.metadata.schemas.RightsStatementRecord)."""
    s = rights.statement
    basis = s.get("basis", "Other")
    note = s.get("note") or ""
    docs = s.get("documentation") or []
    body = ""
    if basis == "Copyright":
        body = (
            "<premis:copyrightInformation>"
            f"{_leaf('premis:copyrightStatus', s.get('status') or 'unknown')}"
            f"{_leaf('premis:copyrightJurisdiction', s.get('jurisdiction') or 'unknown')}"
            + (_leaf("premis:copyrightStatusDeterminationDate", s["determination_date"])
               if s.get("determination_date") else "")
            + (_leaf("premis:copyrightNote", note) if note else "")
            + _documentation("copyright", docs)
            + _dates("premis:copyrightApplicableDates", s.get("start_date"), s.get("end_date"))
            + "</premis:copyrightInformation>"
        )
    elif basis == "License":
        terms = s.get("license_terms") or ""
        inner = _documentation("license", docs) + (_leaf("premis:licenseTerms", terms) if terms else "")
        inner += _leaf("premis:licenseNote", note) if note else ""
        inner += _dates("premis:licenseApplicableDates", s.get("start_date"), s.get("end_date"))
        body = f"<premis:licenseInformation>{inner or _leaf('premis:licenseNote', '')}</premis:licenseInformation>"
    elif basis == "Statute":
        body = (
            "<premis:statuteInformation>"
            f"{_leaf('premis:statuteJurisdiction', s.get('jurisdiction') or 'unknown')}"
            f"{_leaf('premis:statuteCitation', s.get('statute_citation') or '')}"
            + (_leaf("premis:statuteInformationDeterminationDate", s["determination_date"])
               if s.get("determination_date") else "")
            + (_leaf("premis:statuteNote", note) if note else "")
            + _documentation("statute", docs)
            + _dates("premis:statuteApplicableDates", s.get("start_date"), s.get("end_date"))
            + "</premis:statuteInformation>"
        )
    else:  # Other, Donor, Policy: PREMIS's otherRightsInformation, the basis named in otherRightsBasis
        other_basis = s.get("other_basis") or basis
        body = (
            "<premis:otherRightsInformation>"
            + _documentation("otherRights", docs)
            + _leaf("premis:otherRightsBasis", other_basis)
            + _dates("premis:otherRightsApplicableDates", s.get("start_date"), s.get("end_date"))
            + (_leaf("premis:otherRightsNote", note) if note else "")
            + "</premis:otherRightsInformation>"
        )
    granted = []
    for grant in s.get("granted") or []:
        restrictions = "".join(_leaf("premis:restriction", r) for r in grant.get("restrictions") or [])
        term = _dates("premis:termOfGrant", grant.get("start_date"), grant.get("end_date"))
        grant_note = _leaf("premis:rightsGrantedNote", grant["note"]) if grant.get("note") else ""
        granted.append(
            f"<premis:rightsGranted>{_leaf('premis:act', grant.get('act', ''))}{restrictions}{term}{grant_note}"
            "</premis:rightsGranted>"
        )
    link = ""
    if object_uuid is not None:
        link = (
            "<premis:linkingObjectIdentifier><premis:linkingObjectIdentifierType>UUID"
            "</premis:linkingObjectIdentifierType><premis:linkingObjectIdentifierValue>"
            f"{object_uuid}</premis:linkingObjectIdentifierValue></premis:linkingObjectIdentifier>"
        )
    return (
        f"<premis:rightsStatement {PREMIS_NS_ATTRS}>"
        "<premis:rightsStatementIdentifier><premis:rightsStatementIdentifierType>UUID"
        "</premis:rightsStatementIdentifierType><premis:rightsStatementIdentifierValue>"
        f"{rights.uuid}</premis:rightsStatementIdentifierValue></premis:rightsStatementIdentifier>"
        f"{_leaf('premis:rightsBasis', basis if basis in ('Copyright', 'License', 'Statute') else 'Other')}"
        f"{body}{''.join(granted)}{link}</premis:rightsStatement>"
    )


def loads_relationships(value: str | None) -> tuple[Mapping[str, Any], ...]:
    return tuple(json.loads(value)) if value else ()
