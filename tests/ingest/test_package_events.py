"""Events about the package (intake's bag fixity check, junk removed) reach the AIP METS in a package amdSec on the
objects div; the AIP's compression is recorded and shown in its pointer file, which holds no SIP events and is stored
beside the AIP (issue 10)."""

from __future__ import annotations

import uuid
from pathlib import Path

import metsrw
from lxml import etree
from temporalio.testing import WorkflowEnvironment

from clients.ingest import IngestCreate, IngestStatus
from servicekit.xmlschema import validate_mets
from tests.ingest.test_workflow import place_transfer, running_services, wait_for

METS = "{http://www.loc.gov/METS/}"
PREMIS = "{http://www.loc.gov/premis/v3}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
WHEN = "2026-11-21T10:00:00+00:00"
JOURNAL: list[dict[str, object]] = [
    {"record": "event", "path": None, "type": "fixity check", "datetime": WHEN,
     "detail": "Bagit - verifypayloadmanifests", "outcome": "Pass", "outcome_note": ""},
    {"record": "removed", "path": "objects/Thumbs.db", "reason": "junk file (system-generated)"},
    {"record": "event", "path": "objects/Thumbs.db", "type": "file removed", "datetime": WHEN,
     "detail": 'program="amber intake"; junk file (system-generated)', "outcome": "",
     "outcome_note": "junk file (system-generated) removed at intake"},
]


def event_types(element: etree._Element) -> list[str]:
    return [e.findtext(f"{PREMIS}eventType") or "" for e in element.iter(f"{PREMIS}event")]


async def test_package_events_in_the_mets_and_compression_in_the_pointer(
        tmp_path: Path, temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    path = place_transfer(tmp_path / "processing", transfer_uuid, JOURNAL)
    async with running_services(tmp_path, temporal_env) as services:
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="events", path=path, processing_config="automated"))
        ingest = await wait_for(services.ingest, created.uuid, timeout=120)
        assert ingest.status == IngestStatus.stored, ingest.error
        mets_path = tmp_path / "mets.xml"
        await services.metadata.download_mets(created.uuid, mets_path)
        pointer = etree.fromstring(await services.metadata.pointer_file(created.uuid))

    assert validate_mets(mets_path) == []
    tree = etree.parse(str(mets_path))
    package_secs = [sec for sec in tree.iter(f"{METS}amdSec")
                    if sec.find(f".//{PREMIS}object[@{XSI}type='premis:intellectualEntity']") is not None]
    assert len(package_secs) == 1
    assert sorted(event_types(package_secs[0])) == ["file removed", "fixity check"]
    objects = tree.find(f".//{METS}structMap[@TYPE='physical']/{METS}div/{METS}div[@LABEL='objects']")
    assert objects is not None and objects.get("ADMID") == package_secs[0].get("ID")
    assert "compression" not in event_types(tree.getroot())
    # Archivematica's rules hold but two: its list of event types lacks the `file removed` it records itself, and
    # it wants every techMD to describe a file, where the package amdSec's names the package (an intellectual
    # entity) as the subject of its events.
    _, report = metsrw.schematron_validate(tree, metsrw.AM_SCT_PATH)
    failures = [line for line in metsrw.sct_report_string(report).splitlines() if line[:1].isdigit()]
    assert all("(file removed is not in" in line or "MUST have an xsi:type attribute of file" in line
               for line in failures), failures
    assert len(metsrw.METSDocument.fromfile(str(mets_path)).all_files()) > 0

    # The pointer file is stored beside the compressed AIP, as Archivematica's storage service keeps it.
    archive = next((tmp_path / "storage").rglob(f"*-{created.uuid}.7z"))
    stored = archive.with_name(f"pointer.{created.uuid}.xml")
    assert event_types(etree.fromstring(stored.read_bytes())) == ["compression"]

    assert event_types(pointer) == ["compression"]
    detail = pointer.findtext(f".//{PREMIS}eventDetail") or ""
    assert detail.startswith('program="7z"; version="') and 'algorithm="bzip2"; level="5"' in detail
    assert pointer.findtext(f".//{PREMIS}eventOutcome") == "Pass"
