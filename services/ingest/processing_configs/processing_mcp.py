"""Archivematica's processingMCP.xml, read into and written from Amber's processing configurations.

A processingMCP.xml answers decision points in advance: each `<preconfiguredChoice>` names a workflow link
(`<appliesTo>`) and the chain or replacement chosen there (`<goToChain>`). Shipped in a transfer it replaces the
processing configuration, so a point the file does not answer waits for a person; the parser follows that: every
field the file leaves unanswered is `ask`.

The link and choice UUIDs below are Archivematica's workflow identifiers (interoperability data), taken from
artefactual/archivematica:
- `src/archivematica/MCPServer/assets/workflow.json` (commit 0d2da2c8) and its predecessor
  `src/MCPServer/lib/assets/workflow.json` (commit 0372abee): each decision link, its `chain_choices` or
  `replacements`, and the English description of each choice;
- `src/MCPServer/lib/server/processing_config.py` (`processing_fields`): which links make up a configuration
  field, among them the five virus-scanning links sharing one field;
- for the virus-scanning links whose definitions were not read in full, the pairing of link and chain comes from
  the built-in configurations in `src/archivematicaCommon/lib/processing.py` ("Yes") and the
  `automatedConfigTransformations` of `hack/ccp/integration` ("No"), and agrees with workflow.json: each "Yes"
  chain starts at that link's scan, each "No" chain where the scan would have led.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args

from lxml import etree

from clients.ingest.processing import ASK, CREATE_SIP, ProcessingConfigFields

log = logging.getLogger(__name__)

# Archivematica's own files are about 10 KB; anything near this bound is not a processing configuration.
MAX_BYTES = 1024 * 1024
YES_NO = ("Yes", "No")


@dataclass(frozen=True)
class DecisionLink:
    """One Archivematica decision link and, for each of our choices, the chain or replacement it stands for."""

    field: str
    link: str
    label: str
    choices: Mapping[str, str]
    # Choice UUIDs read as one of our choices but never written: older Archivematica releases' UUIDs, or a choice
    # that would loop in Archivematica if it were preconfigured.
    aliases: Mapping[str, str] | None = None


def _yes_no(field: str, link: str, label: str, yes: str, no: str) -> DecisionLink:
    return DecisionLink(field, link, label, dict(zip(YES_NO, (yes, no), strict=True)))


LINKS: tuple[DecisionLink, ...] = (
    _yes_no("assign_uuids_to_directories", "bd899573-694e-4d33-8c9b-df0af802437d", "Assign UUIDs to directories",
            "2dc3f487-e4b0-4e07-a4b3-6216ed24ca14", "891f60d0-1ba8-48d3-b39e-dd0934635d29"),
    _yes_no("virus_scanning", "856d2d65-cd25-49fa-8da9-cabb78292894", "Scan for viruses in metadata",
            "6e431096-c403-4cbf-a59a-a26e86be54a8", "63767e4b-9ce8-4fe2-8724-65cc1f763de0"),
    _yes_no("virus_scanning", "1dad74a2-95df-4825-bbba-dca8b91d2371", "Scan for viruses in extracted files",
            "1ac7d792-b63f-46e0-9945-d48d9e5c02c9", "697c0883-798d-4af7-b8b6-101c7f709cd5"),
    _yes_no("virus_scanning", "7e81f94e-6441-4430-a12d-76df09181b66", "Scan for viruses in directories",
            "97be337c-ff27-4869-bf63-ef1abc9df15d", "77355172-b437-4324-9dcc-e2607ad27cb1"),
    _yes_no("virus_scanning", "390d6507-5029-4dae-bcd4-ce7178c9b560", "Scan for viruses in attachments",
            "34944d4f-762e-4262-8c79-b9fd48521ca0", "63be6081-bee8-4cf5-a453-91893e31940f"),
    _yes_no("virus_scanning", "97a5ddc0-d4e0-43ac-a571-9722405a0a9b",
            "Scan for viruses in submission documentation",
            "3e8c0c39-3f30-4c9b-a449-85eef1b2a458", "7f5244fe-590b-4e38-beaf-0cf1ccb9e71b"),
    _yes_no("generate_transfer_structure", "56eebd45-5600-4768-a8c2-ec0114555a3d",
            "Generate transfer structure report",
            "df54fec1-dae1-4ea6-8d17-a839ee7ac4a7", "e9eaef1e-c2e0-4e3b-b942-bfb537162795"),
    DecisionLink(
        "select_format_id_tool_transfer", "f09847c2-ee51-429a-9478-a860477f6b8d",
        "Perform file format identification (Transfer)",
        {"Yes": "d97297c7-2b49-4cfe-8c9f-0613d63ed763", "No": "1f77af0a-2f7a-468f-af8c-653a9e61ca4f"},
        # Before the point became Yes/No it chose a tool; "Identify using Siegfried" (the releases' default
        # configuration) is identification, which Amber does with Siegfried.
        aliases={"bed4eeb1-d654-4d97-b98d-40eb51d3d4bb": "Yes"},
    ),
    _yes_no("extract_packages", "dec97e3c-5598-4b99-b26e-f87a435a6b7f", "Extract packages",
            "01d80b27-4ad1-4bd1-8f8d-f819f18bf685", "79f1f5af-7694-48a4-b645-e42790bbf870"),
    _yes_no("delete_packages", "f19926dd-8fb5-4c79-8ade-c83f61f55b40", "Delete packages after extraction",
            "85b1e45d-8f98-4cae-8336-72f40e12cbef", "72e8443e-a8eb-49a8-ba5f-76d52f960bde"),
    DecisionLink("create_sip", "bb194013-597c-4e4a-8493-b36d190f8717", "Create SIP(s)", {
        CREATE_SIP: "61cfa825-120e-4b17-83e6-51a42b67d969",
        "Send to backlog": "7065d256-2f47-4b7d-baec-2c4699626121",
        "Reject transfer": "1b04ec43-055c-43b7-9543-bd03c6a778ba",
    }),
    # Archivematica's dashboard writes the Normalize field at two links ("match 1" and "match 2"); the second
    # offers only preservation and "do not normalize" (`processing_config.py`, `find_duplicates`).
    DecisionLink("normalize", "cb8e5706-e73f-472f-ad9b-d1236af8095f", "Normalize", {
        "Normalize for preservation and access": "b93cecd4-71f2-4e28-bc39-d32fd62c5a94",
        "Normalize for preservation": "612e3609-ce9a-4df6-a9a3-63d634d2d934",
        "Normalize for access": "fb7a326e-1e50-4b48-91b9-4917ff8d0ae8",
        "Normalize service files for access": "e600b56d-1a43-4031-9d7c-f64f123e5662",
        "Normalize manually": "c34bd22a-d077-4180-bf58-01db35bdb644",
        "Do not normalize": "89cb80dd-0636-464f-930d-57b61e3928b2",
    }),
    DecisionLink("normalize", "7509e7dc-1e1b-4dce-8d21-e130515fce73", "Normalize", {
        "Normalize for preservation": "612e3609-ce9a-4df6-a9a3-63d634d2d934",
        "Do not normalize": "e8544c5e-9cbb-4b8f-a68b-6d9b4d7f7362",
    }),
    # Replacement choices (`%ThumbnailMode%`: generate, generate_non_default, do_not_generate), from the
    # migration that added the link (dashboard `main` migrations, 2018-06-28).
    DecisionLink("normalize_thumbnail_mode", "498f7a6d-1b8c-431a-aa5d-83f14f3c5e65", "Generate thumbnails", {
        "Yes": "c318b224-b718-4535-a911-494b1af6ff26",
        "Yes, without default icons": "89f098ef-1cb2-4a97-ad67-4c0f14d0546b",
        "No": "972fce6c-52c8-4c00-99b9-d6814e377974",
    }),
    # The link's three chains in workflow.json (commit 0d2da2c8): "Yes", "Redo" and "Reject" (a chain shared
    # with other links' rejections). Archivematica's dashboard offers only the first (`ignoredChoices`), but its
    # MCP server follows any of them from a processingMCP.xml, and so does Amber: a Redo holds for the first
    # attempt only, then a person is asked. Redo is read, never written: Archivematica would redo forever.
    DecisionLink("normalize_transfer", "de909a42-c5b5-46e1-9985-c031b50e9d30", "Approve normalization",
                 {"Approve": "1e0df175-d56d-450d-8bee-7df1dc7ae815",
                  "Reject": "169a5448-c756-4705-a920-737de6b8d595"},
                 aliases={"cbe9b4a3-e4e6-4a32-8d7c-3adfc409cb6f": "Redo"}),
    DecisionLink("reminder", "eeb23509-57e2-4529-8857-9d62525db048", "Reminder: add metadata if desired",
                 {"Continue": "5727faac-88af-40e8-8c10-268644b0142d"}),
    # Gzipped tar, parallel bzip2 and uncompressed (dc04c4c0-07ea-4796-b643-66d967ed33a4) have no Amber
    # counterpart and are left unmapped.
    _yes_no("transcribe_file", "82ee9ad2-2c74-4c7c-853e-e4eaf68fc8b6", "Transcribe files (OCR)",
            "35151db8-3a11-4b49-8865-f6697ef0ac75", "0a24787c-00e3-4710-b324-90e792bfb484"),
    DecisionLink("compression_algo", "01d64f58-8295-4b7b-9cab-8f1b153a504f", "Select compression algorithm", {
        "7z using bzip2": "9475447c-9889-430c-9477-6287a9574c5b",
        "7z using lzma": "c96353b9-0d55-46cf-baa0-d7c3e180dd43",
        "7z without compression": "e3906da0-41fb-4cb8-a598-6c73981b63e9",
    }),
    DecisionLink("compression_level", "01c651cb-c174-4ba4-b985-1d87a44d6754", "Select compression level", {
        "1": "ecfad581-b007-4612-a0e0-fcc551f4057f",
        "3": "85b2243e-ff97-4ca8-80e8-3c6b0842b360",
        "5": "414da421-b83f-4648-895f-a34840e3c3f5",
        "7": "4e31f579-68bd-4be1-a10e-ec5411897121",
        "9": "6d52fd24-8c06-4c8e-997a-e427ba0acc36",
    }),
    DecisionLink("store_aip", "2d32235c-02d4-4686-88a6-96f4d6c7b1c3", "Store AIP", {
        "Store AIP": "9efab23c-31dc-4cbd-a39d-bb1665460cbe",
        "Reject AIP": "433f4e6b-1ef4-49f8-b1e4-49693791a806",
    }),
    # The upload targets (AtoM, ArchivesSpace, CONTENTdm) are not built, so only "Do not upload" is mapped; the
    # "Reject DIP" chain's identifier is not known here, so it is never written (a person answers it).
    DecisionLink("upload_dip", "92879a29-45bf-4f0b-ac43-e64474f0f2f9", "Upload DIP",
                 {"Do not upload DIP": "6eb8ebe7-fab3-4e4c-b9d7-14de17625baa"}),
    DecisionLink("store_dip", "5e58066d-e113-4383-b20b-f301ed4d751c", "Store DIP",
                 {"Store DIP": "8d29eb3d-a8a8-4347-806e-3d8227ed44a1"}),
)
_BY_LINK = {link.link: link for link in LINKS}

# Archivematica's decision links Amber does not implement yet, with the names Archivematica's dashboard gives them
# (`src/dashboard/src/components/administration/forms.py`, `ProcessingConfigurationForm.LABELS`). A choice at one
# of them is not followed; the ingest records it as a warning.
NOT_IMPLEMENTED: Mapping[str, str] = {
    "70fc7040-d4fb-4d19-a0e6-792387ca1006": "Perform policy checks on originals",
    "accea2bf-ba74-4a3a-bb97-614775c74459": "Examine contents",
    "7a024896-c4f7-4808-a240-44c87c762bc5": "Perform file format identification (Ingest)",
    "153c5f41-3cfb-47ba-9150-2dd44ebc27df": "Perform policy checks on preservation derivatives",
    "8ce07e94-6130-4987-96f0-2399ad45c5c2": "Perform policy checks on access derivatives",
    "a2ba5278-459a-4638-92d9-38eb1588717d": "Bind PIDs",
    "d0dfa5fc-e3c2-4638-9eda-f96eea1070e0": "Document empty directories",
    "087d27be-c719-47d8-9bbb-9a7d8b609c44":
        "Perform file format identification (Submission documentation & metadata)",
    "b320ce81-9982-408a-9502-097d0daa48fa": "Store AIP location",
    "cd844b6e-ab3c-4bc6-b34f-7103f88715de": "Store DIP location",
}
# Names of choices at those links, where known (chain descriptions of Archivematica's workflow).
CHOICE_NAMES: Mapping[str, str] = {
    "/api/v2/location/default/AS/": "Default AIP storage location",
    "/api/v2/location/default/DS/": "Default DIP storage location",
}


@dataclass(frozen=True)
class Unfollowed:
    """A choice of a processingMCP.xml that Amber does not follow, said so to the people watching the ingest."""

    link: str
    link_name: str | None
    choice: str
    choice_name: str | None
    message: str


@dataclass(frozen=True)
class ProcessingMcp:
    decisions: dict[str, str]
    unfollowed: list[Unfollowed]
# The fields a processingMCP.xml can answer; the others (e.g. `infected_files`) have no Archivematica point.
MAPPED_FIELDS = frozenset(link.field for link in LINKS)


def _allowed(field: str) -> frozenset[str]:
    """The choices the current schema takes for `field`: a mapped choice it does not take (yet) is not read."""
    info = ProcessingConfigFields.model_fields.get(field)
    return frozenset(get_args(info.annotation)) if info is not None else frozenset()


def _parse(data: bytes) -> etree._Element:
    """Parse untrusted XML: bounded, no DTD (hence no entities), no network."""
    if len(data) > MAX_BYTES:
        raise ValueError(f"processingMCP.xml is {len(data)} bytes; at most {MAX_BYTES} are accepted")
    # A document type declaration is the only way to declare entities; refusing it before parsing closes both
    # external-entity reads and entity expansion. Archivematica never writes one.
    if b"<!doctype" in data.lower():
        raise ValueError("processingMCP.xml must not have a document type declaration (<!DOCTYPE>)")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"processingMCP.xml is not well-formed XML: {exc}") from exc
    # Behind the byte check, for encodings it cannot see (UTF-16).
    if root.getroottree().docinfo.doctype:
        raise ValueError("processingMCP.xml must not have a document type declaration (<!DOCTYPE>)")
    if root.tag != "processingMCP":
        raise ValueError(f"the root element is <{root.tag}>, not <processingMCP>")
    return root


def _answers(root: etree._Element) -> dict[str, str]:
    """Archivematica's reading: link UUID -> chosen UUID, the last choice for a link winning."""
    answers: dict[str, str] = {}
    for choice in root.iterfind(".//preconfiguredChoice"):
        link = (choice.findtext("appliesTo") or "").strip()
        target = (choice.findtext("goToChain") or "").strip()
        if link and target:
            answers[link] = target
    return answers


def decisions_from_processing_mcp(data: bytes) -> dict[str, str]:
    """Our answer for every point Archivematica also has (MAPPED_FIELDS) from a processingMCP.xml; `ask` where the
    file has none (see `read_processing_mcp`)."""
    return read_processing_mcp(data).decisions


def read_processing_mcp(data: bytes) -> ProcessingMcp:
    """A processingMCP.xml's answers and the choices in it Amber does not follow.

    Decisions: our answer for every point Archivematica also has (MAPPED_FIELDS); `ask` where the file has none.
    Amber's own points (`infected_files`, `format_id_tool`) are not in the result: the caller keeps its
    configuration's answers for them, since no Archivematica file can speak to them.

    Unfollowed: choices at links Amber does not implement (normalization, DIPs, …) or does not know at all; a
    known link whose choice Amber cannot follow (e.g. an uncompressed AIP), which leaves its point at `ask`; and
    virus-scanning links answered in contradiction (Amber scans or not, once), which ask too.
    Raises ValueError for malformed, oversized or unsafe XML.
    """
    decisions = dict.fromkeys(sorted(MAPPED_FIELDS), ASK)
    unfollowed: list[Unfollowed] = []
    found: dict[str, set[str]] = {}
    for link_id, target in _answers(_parse(data)).items():
        link = _BY_LINK.get(link_id)
        if link is None:
            unfollowed.append(_not_implemented(link_id, target))
            continue
        choice = next((ours for ours, theirs in link.choices.items() if theirs == target), None)
        if choice is None and link.aliases:
            choice = link.aliases.get(target)
        if choice is None or choice not in _allowed(link.field):
            unfollowed.append(Unfollowed(
                link_id, link.label, target, CHOICE_NAMES.get(target),
                f"“{link.label}”: the choice {target} has no Amber counterpart; a person will be asked",
            ))
            choice = ASK
        found.setdefault(link.field, set()).add(choice)
    for field, choices in found.items():
        if len(choices) == 1:
            decisions[field] = choices.pop()
            continue
        links = [link for link in LINKS if link.field == field]
        unfollowed.append(Unfollowed(
            links[0].link, links[0].label, ", ".join(sorted(choices)), None,
            f"{field} is answered in contradiction ({', '.join(sorted(choices))}); a person will be asked",
        ))
    for item in unfollowed:
        log.info("processingMCP.xml: %s", item.message)
    return ProcessingMcp(decisions, unfollowed)


def _not_implemented(link_id: str, target: str) -> Unfollowed:
    name = NOT_IMPLEMENTED.get(link_id)
    choice_name = CHOICE_NAMES.get(target)
    chosen = f"“{choice_name}” ({target})" if choice_name else target
    if name is None:
        message = f"link {link_id} is not a decision point Amber knows; its choice {chosen} was ignored"
    else:
        message = f"“{name}” is not implemented in Amber yet; the choice {chosen} was ignored"
    return Unfollowed(link_id, name, target, choice_name, message)


def render_processing_mcp(fields: ProcessingConfigFields) -> str:
    """The configuration as a processingMCP.xml Archivematica reads: answered points only; points Archivematica
    does not have (such as `infected_files`) are left out."""
    root = etree.Element("processingMCP")
    choices = etree.SubElement(root, "preconfiguredChoices")
    for link in LINKS:
        value = str(getattr(fields, link.field, ASK))
        target = link.choices.get(value)
        if target is None:  # `ask`: Archivematica waits where the file is silent
            continue
        choices.append(etree.Comment(f" {link.label}: {value} "))
        choice = etree.SubElement(choices, "preconfiguredChoice")
        etree.SubElement(choice, "appliesTo").text = link.link
        etree.SubElement(choice, "goToChain").text = target
    return etree.tostring(root, encoding="unicode", pretty_print=True)
