"""The AIP METS is validated against the vendored schemas before the AIP is made (issue 10): an invalid one fails
the ingest with the errors and a PREMIS event, and nothing is stored."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.ingest import IngestCreate, IngestStatus
from servicekit.xmlschema import validate_mets, validate_mets_stream
from services.ingest.processing.piped_validation import PipedValidation
from tests.ingest.test_workflow import running_services, wait_for

# Well-formed, a structMap, so the metadata service keeps it; but no METS schema allows a `mets:shelf` in a div.
INVALID_STRUCTMAP = b"""<?xml version="1.0"?>
<mets:structMap xmlns:mets="http://www.loc.gov/METS/" TYPE="logical" LABEL="shelves">
  <mets:div TYPE="shelf" LABEL="one"><mets:shelf number="1"/><mets:fptr FILEID="a.txt"/></mets:div>
</mets:structMap>
"""


async def test_an_invalid_aip_mets_fails_the_ingest_with_its_errors(tmp_path: Path,
                                                                    temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    root = tmp_path / "processing" / "transfers" / str(transfer_uuid)
    (root / "objects").mkdir(parents=True)
    (root / "objects" / "a.txt").write_text("alpha\n")
    (root / "metadata").mkdir()
    # Placed straight into processing, past intake (which refuses it): the chain must still catch it.
    (root / "metadata" / "mets_structmap.xml").write_bytes(INVALID_STRUCTMAP)
    async with running_services(tmp_path, temporal_env) as services:
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="invalid", path=f"transfers/{transfer_uuid}",
            processing_config="automated"))
        ingest = await wait_for(services.ingest, created.uuid, timeout=120)
        assert ingest.status == IngestStatus.failed
        assert ingest.error and "METS is not valid" in ingest.error and "shelf" in ingest.error
        events = (await services.metadata.list_events(created.uuid, object_uuid=created.uuid,
                                                      type="validation")).items
        assert [(e.outcome, "shelf" in e.outcome_note) for e in events] == [("fail", True)]
        assert events[0].detail.startswith('program="lxml"')
    assert not list((tmp_path / "storage").rglob("*.7z"))


def big_mets(divs: int, bad_at: int | None = None) -> bytes:
    items = [f'<mets:div LABEL="d{i}"><mets:fptr FILEID="f{i}"/></mets:div>' for i in range(divs)]
    if bad_at is not None:
        items.insert(bad_at, "<mets:shelf/>")
    return (f'<mets:mets xmlns:mets="http://www.loc.gov/METS/"><mets:structMap><mets:div>{"".join(items)}'
            "</mets:div></mets:structMap></mets:mets>").encode()


async def fed(document: bytes, fail_after: int | None = None) -> list[str]:
    async with PipedValidation(validate_mets_stream) as validation:
        for count, start in enumerate(range(0, len(document), 4096)):
            if count == fail_after:
                raise OSError("the download broke off")
            await validation.feed(document[start:start + 4096])
    return await validation.errors()


async def test_a_mets_validated_as_it_arrives_gets_the_verdict_of_the_whole_file(tmp_path: Path) -> None:
    """Fed down a pipe piece by piece (as the worker downloads it), a document several times the pipe's buffer
    gets what validating the written file gives; an invalid one stops the validator early, and the feeding with
    it; a download that breaks off ends the validating thread too."""
    good, bad = big_mets(20_000), big_mets(20_000, bad_at=10_000)
    assert len(good) > 1_000_000
    assert await fed(good) == []
    errors = await fed(bad)
    path = tmp_path / "bad.xml"
    path.write_bytes(bad)
    assert len(errors) == 1 and "shelf" in errors[0]
    assert [e.split(": ", 1)[1] for e in errors] == [e.split(": ", 1)[1] for e in validate_mets(path)]
    assert (await fed(good[:-500])) != []  # cut short: not well-formed
    threads = threading.active_count()
    with pytest.raises(OSError, match="broke off"):
        await fed(good, fail_after=20)
    assert threading.active_count() <= threads
