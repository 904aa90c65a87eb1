"""The AIP METS streamed by the real app: valid against the vendored XSDs, readable by metsrw, complete."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import metsrw
from fastapi import FastAPI
from lxml import etree

from clients.metadata import FileRecord, MetadataClient, PackageUpsert
from servicekit.http import ServiceError
from services.metadata.mets.validation import validate_mets
from tests.conftest import asgi_client
from tests.metadata.conftest import TOKEN
from tests.metadata.factories import compression_event, file_record, file_records

NS = {
    "mets": "http://www.loc.gov/METS/",
    "premis": "http://www.loc.gov/premis/v3",
    "xlink": "http://www.w3.org/1999/xlink",
}
PATHS_AND_PUIDS = {
    "objects/readme.txt": "x-fmt/111",
    "objects/images/photo one.jpg": "fmt/43",
    "objects/images/raw/IMG_0001 (2).CR2": None,
    "objects/images/raw/nested/deep/file+plus%.bin": None,
    "objects/documents/report.pdf": "fmt/276",
    "objects/documents/2024/minutes.docx": "fmt/412",
    "objects/a b/c.txt": "x-fmt/111",
    "objects/a/c.txt": "x-fmt/111",
    "objects/submissionDocumentation/transfer-x/METS.xml": "fmt/101",
}


def records(package_uuid: uuid.UUID) -> list[FileRecord]:
    return [
        file_record(path, package_uuid=package_uuid, puid=puid, format_version="1.01" if puid == "fmt/43" else None)
        for path, puid in PATHS_AND_PUIDS.items()
    ]


async def test_mets_is_valid_complete_and_readable_by_metsrw(metadata: MetadataClient, tmp_path: Path) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="Hart_papers"))
    files = records(package_uuid)
    await metadata.add_files(package_uuid, files)
    await metadata.add_events(package_uuid, [compression_event(package_uuid)])

    dest = tmp_path / f"METS.{package_uuid}.xml"
    written = await metadata.download_mets(package_uuid, dest)
    assert written == dest.stat().st_size > 0
    assert validate_mets(dest) == []
    # The premis prefix is declared once, on the root, not again on each of the ~9 PREMIS elements per file.
    assert dest.read_bytes().count(b'xmlns:premis="') == 1

    tree = etree.parse(str(dest))
    root = tree.getroot()
    assert root.find("mets:metsHdr", NS).get("CREATEDATE")
    assert [etree.QName(child).localname for child in root] == (
        ["metsHdr", "dmdSec"] + ["amdSec"] * len(files) + ["fileSec", "structMap"]
    )
    entity = root.find("mets:dmdSec/mets:mdWrap/mets:xmlData/premis:object", NS)
    assert entity.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "premis:intellectualEntity"
    assert entity.findtext("premis:originalName", namespaces=NS) == f"Hart_papers-{package_uuid}"

    # Every file: one techMD object with its sha256 and PUID (or "Unknown"), three events with three agents.
    by_uuid = {str(f.uuid): f for f in files}
    seen = set()
    for amd in root.iterfind("mets:amdSec", NS):
        obj = amd.find("mets:techMD/mets:mdWrap/mets:xmlData/premis:object", NS)
        if obj is None:
            continue
        file_uuid = obj.findtext("premis:objectIdentifier/premis:objectIdentifierValue", namespaces=NS)
        record = by_uuid[file_uuid]
        seen.add(file_uuid)
        chars = obj.find("premis:objectCharacteristics", NS)
        assert chars.findtext("premis:fixity/premis:messageDigestAlgorithm", namespaces=NS) == "sha256"
        assert chars.findtext("premis:fixity/premis:messageDigest", namespaces=NS) == record.checksum
        assert chars.findtext("premis:size", namespaces=NS) == str(record.size)
        registry_key = chars.findtext("premis:format/premis:formatRegistry/premis:formatRegistryKey", namespaces=NS)
        name = chars.findtext("premis:format/premis:formatDesignation/premis:formatName", namespaces=NS)
        assert registry_key == record.puid
        assert name == ("Unknown" if record.puid is None else record.format_name)
        assert chars.findtext(".//premis:dateCreatedByApplication", namespaces=NS) == "2025-01-02T03:04:05Z"
        assert obj.findtext("premis:originalName", namespaces=NS) == f"%transferDirectory%{record.path}"
        events = amd.findall("mets:digiprovMD/mets:mdWrap[@MDTYPE='PREMIS:EVENT']/mets:xmlData/premis:event", NS)
        assert [e.findtext("premis:eventType", namespaces=NS) for e in events] == [
            "ingestion", "message digest calculation", "format identification",
        ]
        identification = events[2]
        assert identification.findtext(".//premis:eventOutcome", namespaces=NS) == (
            "Positive" if record.puid else "Not identified"
        )
        assert identification.findtext(".//premis:eventOutcomeDetailNote", namespaces=NS) == (
            record.puid or "No Matching Format"
        )
        assert events[1].findtext(".//premis:eventOutcomeDetailNote", namespaces=NS) == record.checksum
        assert len(events[0].findall("premis:linkingAgentIdentifier", NS)) == 3
        agents = amd.findall("mets:digiprovMD/mets:mdWrap[@MDTYPE='PREMIS:AGENT']/mets:xmlData/premis:agent", NS)
        assert [a.findtext("premis:agentType", namespaces=NS) for a in agents] == [
            "software", "organization", "Amber user",
        ]
    assert seen == set(by_uuid)

    # fileSec entries point at the amdSec describing the same file.
    amd_of = {
        amd.get("ID"): amd.findtext(".//premis:objectIdentifierValue", namespaces=NS)
        for amd in root.iterfind("mets:amdSec", NS)
    }
    entries = root.findall("mets:fileSec/mets:fileGrp[@USE='original']/mets:file", NS)
    assert len(entries) == len(files)
    for entry in entries:
        assert entry.get("ID") == f"file-{amd_of[entry.get('ADMID')]}"
        assert entry.get("GROUPID") == f"Group-{amd_of[entry.get('ADMID')]}"
        flocat = entry.find("mets:FLocat", NS)
        assert (flocat.get("LOCTYPE"), flocat.get("OTHERLOCTYPE")) == ("OTHER", "SYSTEM")

    struct = root.find("mets:structMap", NS)
    assert (struct.get("TYPE"), struct.get("ID"), struct.get("LABEL")) == (
        "physical", "structMap_1", "Archivematica default",
    )
    top = struct.find("mets:div", NS)
    assert (top.get("TYPE"), top.get("LABEL"), top.get("DMDID")) == ("Directory", f"Hart_papers-{package_uuid}",
                                                                     "dmdSec_1")
    # Events about the package itself belong to the AIP's pointer file, as in Archivematica.
    assert "compression" not in {e.text for e in root.iterfind(".//premis:eventType", NS)}

    # The structMap nests directories exactly as the paths do.
    def walk(div: etree._Element, prefix: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for child in div.iterfind("mets:div", NS):
            label = child.get("LABEL")
            if child.get("TYPE") == "Directory":
                found |= walk(child, f"{prefix}{label}/")
            else:
                assert child.get("TYPE") == "Item"
                found[f"{prefix}{label}"] = child.find("mets:fptr", NS).get("FILEID")
        return found

    assert [d.get("LABEL") for d in top.iterfind("mets:div", NS)] == ["objects"]
    assert walk(top, "") == {f.path: f"file-{f.uuid}" for f in files}

    # Archivematica's own rules for an AIP METS (its schematron, shipped with metsrw) hold too.
    conforms, report = metsrw.schematron_validate(tree, metsrw.AM_SCT_PATH)
    assert conforms, metsrw.sct_report_string(report)

    # metsrw, which Archivematica's own tools use, reads it back with every path, checksum and format.
    document = metsrw.METSDocument.fromfile(str(dest))
    items = {entry.path: entry for entry in document.all_files() if entry.type == "Item"}
    assert set(items) == set(PATHS_AND_PUIDS)
    for record in files:
        entry = items[record.path]
        assert entry.file_uuid == str(record.uuid)
        assert entry.use == "original"
        premis_object = entry.get_premis_objects()[0]
        assert premis_object.message_digest == record.checksum
        assert [event.event_type for event in entry.get_premis_events()] == [e.type for e in record.events]
        registry_key = premis_object.findtext("object_characteristics/format/format_registry/format_registry_key")
        assert (registry_key or None) == record.puid


async def test_mets_streams_with_headers_and_404s(metadata_app: FastAPI) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with asgi_client(metadata_app) as client:
        missing = await client.get(f"/mets/{uuid.uuid4()}", headers=headers)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        package_uuid = uuid.uuid4()
        await client.put(f"/premis/packages/{package_uuid}", json={"name": "empty"}, headers=headers)
        async with client.stream("GET", f"/mets/{package_uuid}", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/xml")
            assert response.headers["content-disposition"] == f'inline; filename="METS.{package_uuid}.xml"'
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
    # A package with no files yet is still a valid document.
    assert body.startswith(b"<?xml")
    from io import BytesIO

    assert validate_mets(BytesIO(body)) == []


async def streamed_body(app: FastAPI, path: str) -> list[bytes]:
    """The response body parts exactly as the app sends them (httpx's ASGI transport would join them)."""
    done = asyncio.Event()
    requested = False
    parts: list[bytes] = []
    status: list[int] = []

    async def receive() -> dict[str, object]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client stays connected until the whole body has arrived
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))  # type: ignore[call-overload]
        elif message["type"] == "http.response.body":
            parts.append(bytes(message.get("body", b"")))  # type: ignore[call-overload]
            if not message.get("more_body"):
                done.set()

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"metadata"), (b"authorization", f"Bearer {TOKEN}".encode())],
        "server": ("metadata", 80), "client": ("127.0.0.1", 1234),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=120)  # type: ignore[arg-type]
    assert status == [200]
    return parts


async def test_mets_of_5000_files_is_streamed_and_valid(
    metadata_app: FastAPI, metadata: MetadataClient, tmp_path: Path
) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="big"))
    files = file_records(package_uuid, 5000)
    await metadata.add_files(package_uuid, files)
    started = time.perf_counter()
    parts = await streamed_body(metadata_app, f"/mets/{package_uuid}")
    elapsed = time.perf_counter() - started
    dest = tmp_path / "METS.xml"
    with dest.open("wb") as out:
        for part in parts:
            out.write(part)
    print(f"METS of 5000 files: {dest.stat().st_size / 1e6:.1f} MB in {elapsed:.2f}s, {len(parts)} parts")
    # Sent as it is written: a part per chunk of files and section, none holding the whole document.
    assert len(parts) > 40
    assert max(len(part) for part in parts) < 2_000_000
    root = etree.parse(str(dest)).getroot()
    assert len(root.findall("mets:fileSec/mets:fileGrp/mets:file", NS)) == 5000
    assert len(root.findall("mets:structMap//mets:fptr", NS)) == 5000
    assert len(root.findall("mets:amdSec/mets:techMD", NS)) == 5000
    assert validate_mets(dest) == []
    # Big documents are validated while streaming (flat memory); the verdict is the same.
    assert validate_mets(dest, tree_limit=0) == []


async def test_invalid_documents_are_reported_with_line_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(
        '<mets:mets xmlns:mets="http://www.loc.gov/METS/">\n'
        '  <mets:structMap><mets:div>\n'
        '    <premis:object xmlns:premis="http://www.loc.gov/premis/v3"/>\n'
        '  </mets:div></mets:structMap>\n'
        '</mets:mets>\n'
    )
    errors = validate_mets(bad)
    assert errors and errors[0].startswith("line 3:")
    streamed = validate_mets(bad, tree_limit=0)  # as a document too big to hold: same errors, lines unknown
    assert [e.split(":", 1)[1] for e in streamed] == [e.split(":", 1)[1] for e in errors]
    truncated = tmp_path / "truncated.xml"
    truncated.write_text('<mets:mets xmlns:mets="http://www.loc.gov/METS/">\n<mets:metsHdr')
    assert validate_mets(truncated)[0].startswith("line ")


async def test_download_of_unknown_package_fails_cleanly(metadata: MetadataClient, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    dest = tmp_path / "out" / "METS.xml"
    try:
        await metadata.download_mets(uuid.uuid4(), dest)
    except ServiceError as exc:
        assert exc.status == 404
    else:
        raise AssertionError("expected a 404")
    assert list(dest.parent.iterdir()) == []  # no partial file left behind


async def test_events_without_agents_get_the_configured_ones_and_odd_text_survives(
    metadata: MetadataClient, tmp_path: Path
) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="odd"))
    record = file_record("objects/odd name.txt", package_uuid=package_uuid)
    event = record.events[0].model_copy(update={"agents": [], "outcome_note": "bell\x07 and nul-free text"})
    odd = record.model_copy(update={"original_name": "%transferDirectory%objects/odd\x01name.txt", "events": [event]})
    await metadata.add_files(package_uuid, [odd])
    dest = tmp_path / "METS.xml"
    await metadata.download_mets(package_uuid, dest)
    assert validate_mets(dest) == []
    root = etree.parse(str(dest)).getroot()
    linked = [
        (link.findtext("premis:linkingAgentIdentifierType", namespaces=NS),
         link.findtext("premis:linkingAgentIdentifierValue", namespaces=NS))
        for link in root.iterfind(".//premis:event/premis:linkingAgentIdentifier", NS)
    ]
    # The app under test is configured with software_version 9.9.9 and organization "test-org".
    assert linked == [("preservation system", "Amber-9.9.9"), ("repository code", "test-org")]
    agent_names = [a.findtext("premis:agentName", namespaces=NS) for a in root.iterfind(".//premis:agent", NS)]
    assert agent_names == ["Amber", "Test Org"]
    names = [n.text for n in root.iterfind(".//mets:techMD//premis:originalName", NS)]
    assert names == ["%transferDirectory%objects/odd\ufffdname.txt"]
    assert root.findtext(".//premis:eventOutcomeDetailNote", namespaces=NS) == "bell\ufffd and nul-free text"
