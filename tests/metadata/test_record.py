"""The full record (DC, custom, rights, identifiers, directories, structMaps) through the real app, into a METS
that validates, that metsrw reads, and that Archivematica's schematron accepts; the pointer file; safe XML."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import metsrw
import pytest
from fastapi import FastAPI
from lxml import etree

from clients.metadata import MetadataClient, PackageUpsert
from clients.metadata.schemas import AipPackageRecord, RelationshipRecord
from servicekit.http import ServiceError
from services.metadata.mets.validation import validate_mets
from tests.conftest import asgi_client
from tests.metadata.conftest import TOKEN
from tests.metadata.factories import compression_event, file_record

NS = {
    "mets": "http://www.loc.gov/METS/",
    "premis": "http://www.loc.gov/premis/v3",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
}
RIGHTS_CSV_ROW = {
    "file": "objects/letters/1901.txt", "basis": "copyright", "status": "copyrighted",
    "determination_date": "2011-01-01",
    "jurisdiction": "ca", "start_date": "2004", "end_date": "open", "note": "Copyright expires 2010",
    "grant_act": "disseminate", "grant_restriction": "Disallow", "grant_start_date": "2011-01-01",
    "grant_end_date": "open", "grant_note": "Not for the public", "doc_id_type": "local", "doc_id_value": "doc-1",
    "doc_id_role": "agreement",
}
STRUCTMAP = """<?xml version="1.0"?>
<mets:mets xmlns:mets="http://www.loc.gov/METS/">
  <mets:structMap TYPE="logical" LABEL="Correspondence">
    <mets:div TYPE="Series" LABEL="Letters">
      <mets:div TYPE="Item" LABEL="First letter"><mets:fptr FILEID="letters/1901.txt"/></mets:div>
    </mets:div>
  </mets:structMap>
</mets:mets>"""


async def build_package(metadata: MetadataClient) -> tuple[uuid.UUID, list[str]]:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="Hart"))
    paths = ["objects/letters/1901.txt", "objects/letters/1902.txt", "objects/photo.jpg", "objects/a b/c.txt"]
    files = [file_record(path, package_uuid=package_uuid) for path in paths]
    derivative = file_record("objects/photo-x.tif", package_uuid=package_uuid, puid="fmt/353")
    derivative = derivative.model_copy(update={
        "use": "preservation", "creating_application": "convert", "creating_application_version": "6.9",
        "relationships": [RelationshipRecord(subtype="has source", related_object_uuid=files[2].uuid)],
    })
    await metadata.add_files(package_uuid, [*files, derivative])
    await metadata.add_events(package_uuid, [compression_event(package_uuid)])
    # What the ingest worker forwards from the transfer journal, nearly verbatim.
    dc = [{"path": "objects", "elements": {"dc.title": ["Hart family papers"], "dc.creator": ["Hart, J."],
                                           "dcterms.isPartOf": ["AIC#1"]}},
          {"path": "objects/letters/1901.txt", "elements": {"dc.title": "Letter of 1901"}}]
    custom = [{"path": "objects/letters", "elements": {"Box number": ["4"], "2nd field": ["x"]}}]
    for _ in range(2):  # retried: nothing changes the second time
        await metadata.add_descriptive_metadata(package_uuid, dc)
        await metadata.add_descriptive_metadata(package_uuid, custom, kind="custom")
        await metadata.add_rights(package_uuid, [
            {"path": "objects/letters/1901.txt", "statement": RIGHTS_CSV_ROW},
            {"path": "objects", "statement": {"basis": "License", "license_terms": "CC-BY", "granted": [
                {"act": "replicate", "restrictions": ["Allow"]}]}},
            {"path": "objects/letters", "statement": {"basis": "Statute", "jurisdiction": "ca",
                                                      "statute_citation": "Access Act s.1"}},
            {"path": "objects/photo.jpg", "statement": {"basis": "Donor", "note": "Gift"}},
        ])
        await metadata.add_identifiers(package_uuid, [
            {"path": "objects/photo.jpg", "identifiers": [{"type": "local", "value": "photo-1"}]},
            {"path": "objects", "identifiers": [{"type": "hdl", "value": "123/456"}]},
        ])
        await metadata.add_directories(package_uuid, ["objects/empty", "objects/letters/none/deeper"])
        await metadata.add_directories(package_uuid, ["objects/letters"], empty=False)
        await metadata.put_custom_structmap(package_uuid, STRUCTMAP)
    return package_uuid, [*paths, "objects/photo-x.tif"]


async def test_full_record_makes_a_valid_archivematica_shaped_mets(
    metadata: MetadataClient, tmp_path: Path
) -> None:
    package_uuid, paths = await build_package(metadata)
    assert (await metadata.list_rights(package_uuid)).total == 4
    assert (await metadata.list_descriptive_metadata(package_uuid)).total == 3
    assert (await metadata.list_directories(package_uuid)).total == 3
    letters = await metadata.list_files(package_uuid, path_prefix="objects/letters/")
    assert [f.path for f in letters.items] == ["objects/letters/1901.txt", "objects/letters/1902.txt"]
    assert (await metadata.list_files(package_uuid, use="preservation")).items[0].relationships[0].subtype == (
        "has source")
    assert (await metadata.list_events(package_uuid, type="compression")).total == 1
    again = await metadata.add_rights(package_uuid, [{"path": "objects", "statement": {"basis": "Other",
                                                                                      "other_basis": "Policy"}}])
    assert (again.created, again.unchanged) == (1, 0)

    dest = tmp_path / "METS.xml"
    await metadata.download_mets(package_uuid, dest)
    assert validate_mets(dest) == []
    tree = etree.parse(str(dest))
    root = tree.getroot()
    # Archivematica's own rules hold, except that its schematron resolves DMDID as one id: a div with a directory
    # entity and a custom record has two, which METS allows (IDREFS) and metsrw reads and writes.
    _, report = metsrw.schematron_validate(tree, metsrw.AM_SCT_PATH)
    failures = [line for line in metsrw.sct_report_string(report).splitlines() if line[:1].isdigit()]
    assert all("DMDID dmdSec_" in line and " dmdSec_" in line.split("DMDID ", 1)[1] for line in failures), failures

    dmd = {d.get("ID"): d for d in root.iterfind("mets:dmdSec", NS)}
    title = root.find(".//mets:mdWrap[@MDTYPE='DC']//dc:title", NS)
    assert title is not None and title.text == "Hart family papers"
    assert root.find(".//mets:mdWrap[@MDTYPE='DC']//dcterms:isPartOf", NS).text == "AIC#1"
    custom = root.find(".//mets:mdWrap[@OTHERMDTYPE='CUSTOM']/mets:xmlData", NS)
    assert sorted(child.tag for child in custom) == ["Box_number", "_2nd_field"]
    assert len(dmd) == 1 + 3 + 3  # package, three directories, two DC and one custom record

    # The physical structMap: objects carries the package DC, letters its entity and custom dmdSecs.
    physical, normative, correspondence = root.findall("mets:structMap", NS)
    objects = physical.find("mets:div/mets:div[@LABEL='objects']", NS)
    assert any(dmd[i].find(".//dc:title", NS) is not None for i in objects.get("DMDID").split())
    letters = objects.find("mets:div[@LABEL='letters']", NS)
    assert len(letters.get("DMDID").split()) == 2
    assert physical.find(".//mets:div[@LABEL='empty']", NS) is None
    # The Normative Directory Structure keeps the empty directories.
    assert normative.get("LABEL") == "Normative Directory Structure"
    n_objects = normative.find("mets:div/mets:div[@LABEL='objects']", NS)
    assert n_objects.find("mets:div[@LABEL='empty']", NS) is not None
    assert n_objects.find("mets:div[@LABEL='letters']/mets:div[@LABEL='none']/mets:div[@LABEL='deeper']",
                          NS) is not None
    # The custom structMap points at the right file.
    fptr = correspondence.find(".//mets:fptr", NS)
    xns = {**NS, "xlink": "http://www.w3.org/1999/xlink"}
    file_1901 = root.xpath(".//mets:file[mets:FLocat/@xlink:href='objects/letters/1901.txt']", namespaces=xns)[0]
    assert fptr.get("FILEID") == file_1901.get("ID")
    assert correspondence.get("LABEL") == "Correspondence"

    # Rights: file-level, its directory's and the package's apply; the donor statement is "Other".
    def rights_of(path: str) -> list[str]:
        entry = root.xpath(f".//mets:file[mets:FLocat/@xlink:href='{path}']", namespaces=xns)[0]
        amd = root.find(f"mets:amdSec[@ID='{entry.get('ADMID')}']", NS)
        return [b.text for b in amd.iterfind(".//premis:rightsBasis", NS)]

    assert sorted(rights_of("objects/letters/1901.txt")) == ["Copyright", "License", "Other", "Statute"]
    assert sorted(rights_of("objects/photo.jpg")) == ["License", "Other", "Other"]
    copyright_ = root.find(".//premis:copyrightInformation", NS)
    assert copyright_.findtext("premis:copyrightStatus", namespaces=NS) == "copyrighted"
    granted = root.find(".//premis:rightsStatement[premis:copyrightInformation]/premis:rightsGranted", NS)
    assert granted.findtext("premis:act", namespaces=NS) == "disseminate"
    assert granted.findtext("premis:restriction", namespaces=NS) == "Disallow"
    assert granted.findtext("premis:termOfGrant/premis:endDate", namespaces=NS) == "OPEN"

    # Relationships, creating application, extra identifiers; fileGrps in Archivematica's order.
    assert [g.get("USE") for g in root.iterfind("mets:fileSec/mets:fileGrp", NS)] == ["original", "preservation"]
    derivative = root.find(".//premis:object[premis:relationship]", NS)
    assert derivative.findtext(".//premis:relationshipSubType", namespaces=NS) == "has source"
    assert derivative.findtext(".//premis:creatingApplicationName", namespaces=NS) == "convert"
    assert "local" in [t.text for t in root.iterfind(".//premis:objectIdentifierType", NS)]

    # metsrw reads every file with its PREMIS object, fixity and events.
    document = metsrw.METSDocument.fromfile(str(dest))
    items = {entry.path: entry for entry in document.all_files() if entry.type == "Item" and entry.file_uuid}
    assert set(items) == set(paths)
    for entry in items.values():
        premis_object = entry.get_premis_objects()[0]
        assert len(premis_object.message_digest) == 64
        assert [e.event_type for e in entry.get_premis_events()][:1] == ["ingestion"]


async def test_pointer_file_of_a_compressed_aip(metadata: MetadataClient, tmp_path: Path) -> None:
    package_uuid, _ = await build_package(metadata)
    with pytest.raises(ServiceError) as missing:
        await metadata.pointer_file(package_uuid)
    assert missing.value.status == 404
    record = AipPackageRecord(size=12345, checksum="ab" * 32, compression="7z-bzip2", program_version="16.02",
                              path=f"/aips/Hart-{package_uuid}.7z")
    first = await metadata.record_aip(package_uuid, record)
    assert (await metadata.record_aip(package_uuid, record)).created_at == first.created_at
    pointer = tmp_path / "pointer.xml"
    pointer.write_bytes(await metadata.pointer_file(package_uuid))
    assert validate_mets(pointer) == []
    root = etree.parse(str(pointer)).getroot()
    obj = root.find(".//premis:object", NS)
    assert obj.findtext(".//premis:compositionLevel", namespaces=NS) == "1"
    assert obj.findtext(".//premis:formatRegistryKey", namespaces=NS) == "fmt/484"
    assert obj.findtext(".//premis:size", namespaces=NS) == "12345"
    assert root.find(".//mets:transformFile", NS).get("TRANSFORMALGORITHM") == "bzip2"
    assert [e.text for e in root.iterfind(".//premis:eventType", NS)] == ["compression"]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<mets:mets xmlns:mets="http://www.loc.gov/METS/">&lol3;</mets:mets>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!-- a comment first -->
<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<mets:mets xmlns:mets="http://www.loc.gov/METS/">&xxe;</mets:mets>"""


async def test_validation_endpoint_and_hostile_xml(metadata_app: FastAPI, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/xml"}
    async with asgi_client(metadata_app) as client:
        async def post(body: bytes) -> httpx.Response:
            return await client.post("/mets/validate", content=body, headers=headers)

        for hostile in (BILLION_LAUGHS, EXTERNAL_ENTITY):
            response = await post(hostile)
            assert response.status_code == 400
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["title"] == "Unsafe XML refused"
            assert "entities" in response.json()["detail"]
        malformed = await post(b'<mets:mets xmlns:mets="http://www.loc.gov/METS/">\n<mets:metsHdr>')
        assert malformed.status_code == 400 and malformed.json()["title"] == "Malformed XML"
        assert malformed.json()["detail"].startswith("line 2")
        invalid = await post(
            b'<mets:mets xmlns:mets="http://www.loc.gov/METS/">\n<mets:structMap>\n<mets:bogus/>\n'
            b"</mets:structMap>\n</mets:mets>"
        )
        report = invalid.json()
        assert invalid.status_code == 200 and report["valid"] is False and report["kind"] == "mets"
        assert report["errors"][0].startswith("line 3:")
        premis = await post(
            b'<premis:premis xmlns:premis="http://www.loc.gov/premis/v3" version="3.0">\n'
            b"<premis:object/></premis:premis>"
        )
        assert premis.json()["kind"] == "premis" and premis.json()["errors"][0].startswith("line 2:")
        package_uuid = uuid.uuid4()
        auth = {"Authorization": f"Bearer {TOKEN}"}
        await client.put(f"/premis/packages/{package_uuid}", json={"name": "x"}, headers=auth)
        structmap = await client.put(f"/premis/packages/{package_uuid}/structmaps/1", headers=auth,
                                     json={"xml": EXTERNAL_ENTITY.decode()})
        assert structmap.status_code == 400 and structmap.json()["title"] == "Unsafe XML refused", structmap.json()
