"""Files removed from the SIP (a package deleted after extraction, an infected file quarantined) keep their PREMIS
object and events in the METS, in a fileGrp USE="deleted" with no FLocat and outside every structMap; nothing
else treats them as files of the AIP."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import metsrw
from fastapi import FastAPI
from lxml import etree
from sqlalchemy.ext.asyncio import AsyncEngine

from clients.metadata import DELETED_USE, EventRecord, FileRecord, MetadataClient, PackageUpsert
from servicekit.db import session_factory, unit_of_work
from services.metadata.main import create_app
from services.metadata.mets.validation import validate_mets
from services.metadata.search import service as search_service
from services.metadata.settings import MetadataSettings
from tests.metadata.conftest import TOKEN
from tests.metadata.factories import AGENTS, BASE_TIME, file_record

NS = {"mets": "http://www.loc.gov/METS/", "premis": "http://www.loc.gov/premis/v3"}
STRUCTMAP = """<mets:structMap xmlns:mets="http://www.loc.gov/METS/" TYPE="logical" LABEL="Selection">
  <mets:div TYPE="Series" LABEL="Chosen"><mets:fptr FILEID="letters/1901.txt"/><mets:fptr FILEID="docs/infected.doc"/>
  </mets:div>
</mets:structMap>"""


def removed(record: FileRecord, event_type: str, outcome: str) -> FileRecord:
    event = EventRecord(uuid=uuid.uuid5(record.uuid, event_type), type=event_type,
                        datetime=BASE_TIME + timedelta(minutes=1), outcome=outcome, agents=list(AGENTS))
    return record.model_copy(update={"use": DELETED_USE, "events": [*record.events, event]})


async def build(metadata: MetadataClient) -> tuple[uuid.UUID, list[FileRecord], list[FileRecord]]:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="with_removals"))
    kept = [
        file_record("objects/letters/1901.txt", package_uuid=package_uuid),
        file_record("objects/archive/inside.txt", package_uuid=package_uuid),
    ]
    gone = [
        removed(file_record("objects/archive.zip", package_uuid=package_uuid, puid="x-fmt/263",
                            format_name="ZIP Format"), "unpacking", "Positive"),
        # The only file of its directory: the directory must not appear in the structMap either.
        removed(file_record("objects/docs/infected.doc", package_uuid=package_uuid, puid="fmt/40",
                            format_name="Microsoft Word Document"), "virus check", "Fail"),
    ]
    await metadata.add_files(package_uuid, [*kept, *gone])
    await metadata.add_directories(package_uuid, ["objects/empty"])
    await metadata.put_custom_structmap(package_uuid, STRUCTMAP)
    return package_uuid, kept, gone


async def test_deleted_files_are_in_their_own_file_group_without_location_or_structmap(
    metadata: MetadataClient, tmp_path: Path
) -> None:
    package_uuid, kept, gone = await build(metadata)
    dest = tmp_path / "METS.xml"
    await metadata.download_mets(package_uuid, dest)
    assert validate_mets(dest) == []
    tree = etree.parse(str(dest))
    root = tree.getroot()

    assert [g.get("USE") for g in root.iterfind("mets:fileSec/mets:fileGrp", NS)] == ["original", DELETED_USE]
    entries = root.findall(f"mets:fileSec/mets:fileGrp[@USE='{DELETED_USE}']/mets:file", NS)
    assert [e.get("ID") for e in entries] == [f"file-{f.uuid}" for f in sorted(gone, key=lambda f: f.path)]
    assert all(len(entry) == 0 for entry in entries)  # no FLocat: the AIP holds no bytes of theirs
    for entry, record in zip(entries, sorted(gone, key=lambda f: f.path), strict=True):
        amd = root.find(f"mets:amdSec[@ID='{entry.get('ADMID')}']", NS)
        obj = amd.find("mets:techMD/mets:mdWrap/mets:xmlData/premis:object", NS)
        assert obj.findtext("premis:objectIdentifier/premis:objectIdentifierValue", namespaces=NS) == str(record.uuid)
        assert obj.findtext(".//premis:messageDigest", namespaces=NS) == record.checksum
        assert obj.findtext("premis:originalName", namespaces=NS) == record.original_name
        events = amd.findall("mets:digiprovMD/mets:mdWrap[@MDTYPE='PREMIS:EVENT']/mets:xmlData/premis:event", NS)
        assert [e.findtext("premis:eventType", namespaces=NS) for e in events] == [e.type for e in record.events]
        assert len(amd.findall("mets:digiprovMD/mets:mdWrap[@MDTYPE='PREMIS:AGENT']", NS)) == 3

    # No structMap (physical, normative or custom) points at them, nor lists the directory only they were in.
    structmaps = root.findall("mets:structMap", NS)
    assert [s.get("LABEL") for s in structmaps] == [
        "Archivematica default", "Normative Directory Structure", "Selection",
    ]
    pointed = {fptr.get("FILEID") for fptr in root.iterfind("mets:structMap//mets:fptr", NS)}
    assert pointed == {f"file-{f.uuid}" for f in kept}
    labels = {div.get("LABEL") for div in root.iterfind("mets:structMap//mets:div", NS)}
    assert not labels & {"archive.zip", "infected.doc", "docs"}
    assert {"archive", "inside.txt", "empty"} <= labels

    # metsrw reads the files of the AIP; Archivematica's schematron asks every file for an FLocat, which a
    # removed file cannot have, and finds nothing else amiss.
    document = metsrw.METSDocument.fromfile(str(dest))
    assert {e.path for e in document.all_files() if e.type == "Item"} == {f.path for f in kept}
    _, report = metsrw.schematron_validate(tree, metsrw.AM_SCT_PATH)
    failures = [line for line in metsrw.sct_report_string(report).splitlines() if line[:1].isdigit()]
    assert len(failures) == len(gone) and all("FLocat" in line for line in failures), failures


async def test_deleted_files_are_counted_listed_and_left_out_of_search(
    metadata: MetadataClient, db_engine: AsyncEngine
) -> None:
    package_uuid, kept, gone = await build(metadata)
    package = await metadata.get_package(package_uuid)
    assert (package.file_count, package.deleted_file_count) == (len(kept) + len(gone), len(gone))
    listed = await metadata.list_files(package_uuid, use=DELETED_USE)
    assert [f.path for f in listed.items] == ["objects/archive.zip", "objects/docs/infected.doc"]

    async with unit_of_work(session_factory(db_engine)) as session:
        assert await search_service.index_package(session, package_uuid, 5000) == len(kept)
    hits = await metadata.search(kind="file", package_uuid=package_uuid)
    assert sorted(h.path or "" for h in hits.items) == sorted(f.path for f in kept)
    assert (await metadata.search("infected", package_uuid=package_uuid)).total == 0


async def test_deleted_files_survive_a_mets_import(
    metadata: MetadataClient, metadata_app: FastAPI, tmp_path: Path
) -> None:
    package_uuid, kept, gone = await build(metadata)
    mets = tmp_path / "METS.xml"
    await metadata.download_mets(package_uuid, mets)
    # Adopted by another Amber (its own database): the removed files come back as removed, at their paths.
    other = create_app(MetadataSettings(data_dir=tmp_path / "other", internal_token=TOKEN))
    async with other.router.lifespan_context(other):
        remote = MetadataClient("http://other", token=TOKEN, transport=httpx.ASGITransport(app=other))
        try:
            await remote.upsert_package(package_uuid, PackageUpsert(name="adopted"))
            result = await remote.import_aip_mets(package_uuid, mets)
            assert result.files == len(kept) + len(gone) and result.unmatched == []
            listed = await remote.list_files(package_uuid, use=DELETED_USE)
            assert {(f.uuid, f.path) for f in listed.items} == {(f.uuid, f.path) for f in gone}
            assert (await remote.list_events(package_uuid, type="virus check")).items[0].outcome == "Fail"
        finally:
            await remote.aclose()
