"""Archivematica's processingMCP.xml: reading it into Amber's decision points, writing them back, and the ingest
service's export and import operations (over the real app, SQLite and PostgreSQL, real Temporal server)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import get_args

import httpx
import pytest
from lxml import etree
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.ingest import IngestClient, ProcessingConfigFields
from clients.ingest.processing import ASK
from services.ingest.main import create_app
from services.ingest.processing_configs.processing_mcp import (
    LINKS,
    MAPPED_FIELDS,
    MAX_BYTES,
    decisions_from_processing_mcp,
    read_processing_mcp,
    render_processing_mcp,
)
from tests.conftest import asgi_client
from tests.ingest.test_ingests_api import settings_for

FIELDS = tuple(ProcessingConfigFields.model_fields)
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "transfers"
EMPTY = b"<processingMCP><preconfiguredChoices/></processingMCP>"
VIRUS_LINKS = [link for link in LINKS if link.field == "virus_scanning"]


def as_read_back(fields: dict[str, str]) -> dict[str, str]:
    """What a processingMCP.xml carries of `fields`: only the points Archivematica also has."""
    return {name: value for name, value in fields.items() if name in MAPPED_FIELDS}


def choice(applies_to: str, go_to: str) -> str:
    return (f"<preconfiguredChoice><appliesTo>{applies_to}</appliesTo><goToChain>{go_to}</goToChain>"
            "</preconfiguredChoice>")


def document(*choices: str, declaration: str = "") -> bytes:
    return f"{declaration}<processingMCP><preconfiguredChoices>{''.join(choices)}</preconfiguredChoices>" \
           "</processingMCP>".encode()


def corpus_samples() -> list[bytes]:
    samples = []
    bag = CORPUS / "SampleBags" / "dir" / "SimpleBagWithProcessingMCP" / "data" / "processingMCP.xml"
    if bag.is_file():
        samples.append(bag.read_bytes())
    for archive in sorted((CORPUS / "ZippedDirectoryTransfer").glob("*.zip")):
        with zipfile.ZipFile(archive) as zipped:
            samples += [zipped.read(name) for name in zipped.namelist() if name.endswith("processingMCP.xml")]
    return samples


def test_an_empty_configuration_asks_at_every_point() -> None:
    assert decisions_from_processing_mcp(EMPTY) == dict.fromkeys(MAPPED_FIELDS, ASK)


@pytest.mark.skipif(not corpus_samples(), reason=f"the sample transfer corpus is absent ({CORPUS})")
def test_the_corpus_samples_are_empty_configurations() -> None:
    for sample in corpus_samples():
        assert decisions_from_processing_mcp(sample) == dict.fromkeys(MAPPED_FIELDS, ASK)


def test_answered_points_are_read_and_the_rest_ask() -> None:
    # Archivematica's comments, an XML declaration, a link Amber does not follow (the AIP location) and a link
    # answered twice (the last answer counts, as in Archivematica) are all part of real files.
    data = document(
        "<!-- Assign UUIDs to directories -->",
        choice("bd899573-694e-4d33-8c9b-df0af802437d", "891f60d0-1ba8-48d3-b39e-dd0934635d29"),
        choice("cb8e5706-e73f-472f-ad9b-d1236af8095f", "612e3609-ce9a-4df6-a9a3-63d634d2d934"),
        choice("b320ce81-9982-408a-9502-097d0daa48fa", "/api/v2/location/default/AS/"),
        choice("01d64f58-8295-4b7b-9cab-8f1b153a504f", "c96353b9-0d55-46cf-baa0-d7c3e180dd43"),
        choice("01c651cb-c174-4ba4-b985-1d87a44d6754", "ecfad581-b007-4612-a0e0-fcc551f4057f"),
        choice("01c651cb-c174-4ba4-b985-1d87a44d6754", "6d52fd24-8c06-4c8e-997a-e427ba0acc36"),
        choice("bb194013-597c-4e4a-8493-b36d190f8717", "1b04ec43-055c-43b7-9543-bd03c6a778ba"),
        choice("2d32235c-02d4-4686-88a6-96f4d6c7b1c3", "9efab23c-31dc-4cbd-a39d-bb1665460cbe"),
        choice("f09847c2-ee51-429a-9478-a860477f6b8d", "bed4eeb1-d654-4d97-b98d-40eb51d3d4bb"),
        *(choice(link.link, link.choices["No"]) for link in VIRUS_LINKS),
        declaration='<?xml version="1.0" encoding="UTF-8"?>\n',
    )
    decisions = decisions_from_processing_mcp(data)
    assert decisions == {
        **dict.fromkeys(MAPPED_FIELDS, ASK),
        "assign_uuids_to_directories": "No", "compression_algo": "7z using lzma", "compression_level": "9",
        "create_sip": "Reject transfer", "store_aip": "Store AIP", "select_format_id_tool_transfer": "Yes",
        "virus_scanning": "No", "normalize": "Normalize for preservation",
    }
    ProcessingConfigFields.model_validate(decisions)


def test_choices_amber_cannot_follow_ask() -> None:
    uncompressed = choice("01d64f58-8295-4b7b-9cab-8f1b153a504f", "dc04c4c0-07ea-4796-b643-66d967ed33a4")
    contradicting = [choice(link.link, link.choices["Yes" if i % 2 else "No"]) for i, link in
                     enumerate(VIRUS_LINKS)]
    decisions = decisions_from_processing_mcp(document(uncompressed, *contradicting))
    assert decisions["compression_algo"] == ASK and decisions["virus_scanning"] == ASK


def test_choices_amber_does_not_follow_are_listed_with_archivematicas_names() -> None:
    data = document(
        choice("bd899573-694e-4d33-8c9b-df0af802437d", "891f60d0-1ba8-48d3-b39e-dd0934635d29"),
        choice("b320ce81-9982-408a-9502-097d0daa48fa", "/api/v2/location/default/AS/"),
        choice("5b0ac0c6-1bd3-4b1d-a2c0-52b4b8a1a0c9", "0f5e9a5b-2f0a-4c7e-9d0b-3f1d2c4b5a6e"),
        choice("01d64f58-8295-4b7b-9cab-8f1b153a504f", "dc04c4c0-07ea-4796-b643-66d967ed33a4"),
    )
    read = read_processing_mcp(data)
    assert read.decisions["assign_uuids_to_directories"] == "No"
    assert read.decisions["compression_algo"] == ASK
    location, unknown, uncompressed = read.unfollowed
    assert (location.link_name, location.choice_name) == ("Store AIP location", "Default AIP storage location")
    assert location.message == ("“Store AIP location” is not implemented in Amber yet; the choice “Default AIP "
                                "storage location” (/api/v2/location/default/AS/) was ignored")
    assert unknown.link == "5b0ac0c6-1bd3-4b1d-a2c0-52b4b8a1a0c9" and unknown.link_name is None
    assert "not a decision point Amber knows" in unknown.message
    assert uncompressed.link_name == "Select compression algorithm"
    assert "a person will be asked" in uncompressed.message
    # An answer Amber follows makes no warning.
    assert read_processing_mcp(render_processing_mcp(ProcessingConfigFields()).encode()).unfollowed == []


def test_points_archivematica_does_not_have_are_left_out() -> None:
    assert "infected_files" not in MAPPED_FIELDS
    assert set(FIELDS) >= MAPPED_FIELDS


def test_a_mapped_choice_is_read_only_once_the_schema_takes_it() -> None:
    backlog = choice("bb194013-597c-4e4a-8493-b36d190f8717", "7065d256-2f47-4b7d-baec-2c4699626121")
    taken = "Send to backlog" in get_args(ProcessingConfigFields.model_fields["create_sip"].annotation)
    expected = "Send to backlog" if taken else ASK
    assert decisions_from_processing_mcp(document(backlog))["create_sip"] == expected


@pytest.mark.parametrize("fields", [
    ProcessingConfigFields(),
    ProcessingConfigFields(assign_uuids_to_directories="No", virus_scanning="No", generate_transfer_structure="Yes",
                           select_format_id_tool_transfer="No", extract_packages="No", delete_packages="No",
                           create_sip="Reject transfer", compression_algo="7z without compression",
                           compression_level="3", store_aip="Reject AIP"),
    ProcessingConfigFields(select_format_id_tool_transfer="ask", extract_packages="ask", compression_level="7",
                           reminder="ask", store_aip="ask"),
])
def test_render_then_parse_gives_back_the_answered_points(fields: ProcessingConfigFields) -> None:
    xml = render_processing_mcp(fields)
    root = etree.fromstring(xml.encode())
    assert root.tag == "processingMCP"
    links = root.findall("preconfiguredChoices/preconfiguredChoice/appliesTo")
    assert len(links) == len({link.text for link in links})
    assert decisions_from_processing_mcp(xml.encode()) == as_read_back(fields.model_dump())


def test_every_virus_scanning_link_is_written() -> None:
    root = etree.fromstring(render_processing_mcp(ProcessingConfigFields(virus_scanning="Yes")).encode())
    written = {c.findtext("appliesTo"): c.findtext("goToChain") for c in root.iter("preconfiguredChoice")}
    assert {link.link: link.choices["Yes"] for link in VIRUS_LINKS}.items() <= written.items()
    assert len(VIRUS_LINKS) == 5


@pytest.mark.parametrize("data, message", [
    (b'<!DOCTYPE processingMCP [<!ENTITY x SYSTEM "file:///etc/passwd">]><processingMCP>&x;</processingMCP>',
     "document type declaration"),
    (b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
     b"<processingMCP>&b;</processingMCP>", "document type declaration"),
    ('<!DOCTYPE processingMCP SYSTEM "http://example.org/x.dtd"><processingMCP/>'.encode("utf-16"),
     "document type declaration"),
    (b"<processingMCP><preconfiguredChoices>", "not well-formed"),
    (b"", "not well-formed"),
    (b"<processing><preconfiguredChoices/></processing>", "not <processingMCP>"),
    (EMPTY + b" " * MAX_BYTES, "at most"),
])
def test_hostile_or_broken_xml_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decisions_from_processing_mcp(data)


async def test_export_and_import_over_the_api(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    app = create_app(settings_for(tmp_path, temporal_env), engine=db_engine)
    headers = {"Authorization": "Bearer secret"}
    async with asgi_client(app) as client:
        exported = await client.get("/processing-configurations/default/processingMCP.xml", headers=headers)
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("application/xml")
        default = (await client.get("/processing-configurations/default", headers=headers)).json()["fields"]
        assert decisions_from_processing_mcp(exported.content) == as_read_back(default)

        imported = await client.post("/processing-configurations/from-am/import", headers={
            **headers, "Content-Type": "application/xml"}, content=exported.content)
        assert imported.status_code == 201, imported.text
        # Amber's own points, which no processingMCP.xml can answer, take the answers of `automated`.
        assert imported.json()["fields"] == default
        again = await client.post("/processing-configurations/from-am/import", headers=headers, content=EMPTY)
        assert again.status_code == 200
        fields = again.json()["fields"]
        assert {fields[name] for name in MAPPED_FIELDS} == {ASK}
        assert (fields["infected_files"], fields["format_id_tool"]) == ("Fail transfer", "Siegfried")

        missing = await client.get("/processing-configurations/nope/processingMCP.xml", headers=headers)
        assert missing.status_code == 404
        hostile = await client.post("/processing-configurations/x/import", headers=headers,
                                    content=b'<!DOCTYPE a [<!ENTITY e "e">]><processingMCP>&e;</processingMCP>')
        assert hostile.status_code == 422
        assert hostile.headers["content-type"].startswith("application/problem+json")
        assert "document type declaration" in hostile.json()["detail"]
        huge = await client.post("/processing-configurations/x/import", headers=headers,
                                 content=b" " * (MAX_BYTES + 1))
        assert huge.status_code == 413
        assert (await client.get("/processing-configurations/x", headers=headers)).status_code == 404

        async with IngestClient("http://ingest", token="secret", transport=httpx.ASGITransport(app=app)) as ingest:
            xml = await ingest.export_processing_config_xml("automated")
            copied = await ingest.import_processing_config_xml("automated-copy", xml.encode())
            automated = await ingest.get_processing_config("automated")
            assert copied.fields == automated.fields

        operations = {op["operationId"] for path in app.openapi()["paths"].values() for op in path.values()}
        assert {"export_processing_config_xml", "import_processing_config_xml"} <= operations


def test_normalization_points_round_trip_through_both_normalize_links() -> None:
    """Archivematica writes Normalize at two links, the second only for preservation or nothing; both read back
    as one answer, and the Approve, thumbnail and OCR links too."""
    fields = ProcessingConfigFields(normalize="Normalize for preservation", normalize_thumbnail_mode="No",
                                    normalize_transfer="Approve", transcribe_file="Yes")
    xml = render_processing_mcp(fields)
    assert xml.count("612e3609-ce9a-4df6-a9a3-63d634d2d934") == 2
    read = read_processing_mcp(xml.encode())
    assert read.unfollowed == []
    assert {k: read.decisions[k] for k in ("normalize", "normalize_thumbnail_mode", "normalize_transfer",
                                           "transcribe_file")} == {
        "normalize": "Normalize for preservation", "normalize_thumbnail_mode": "No",
        "normalize_transfer": "Approve", "transcribe_file": "Yes"}
    both = ProcessingConfigFields(normalize="Normalize for preservation and access", normalize_transfer="Redo")
    read = read_processing_mcp(render_processing_mcp(both).encode())
    # Only the first link has this choice; Redo is never written (Archivematica would redo forever), so a person
    # is asked.
    assert read.decisions["normalize"] == "Normalize for preservation and access"
    assert read.decisions["normalize_transfer"] == ASK


APPROVE_NORMALIZATION = "de909a42-c5b5-46e1-9985-c031b50e9d30"


@pytest.mark.parametrize(("chain", "ours"), [
    ("1e0df175-d56d-450d-8bee-7df1dc7ae815", "Approve"),  # workflow.json: "Yes"
    ("cbe9b4a3-e4e6-4a32-8d7c-3adfc409cb6f", "Redo"),
    ("169a5448-c756-4705-a920-737de6b8d595", "Reject"),
])
def test_each_chain_of_approve_normalization_is_read(chain: str, ours: str) -> None:
    """Archivematica's three chains at "Approve normalization" (workflow.json, commit 0d2da2c8)."""
    read = read_processing_mcp(document(choice(APPROVE_NORMALIZATION, chain)))
    assert read.unfollowed == [] and read.decisions["normalize_transfer"] == ours
    written = render_processing_mcp(ProcessingConfigFields.model_validate({"normalize_transfer": ours}))
    # Approve and Reject are written back as they came; Redo is not: a person is asked.
    assert (chain in written) == (ours != "Redo")
