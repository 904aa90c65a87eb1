"""The AIP METS is validated against the vendored schemas before the AIP is made (issue 10): an invalid one fails
the ingest with the errors and a PREMIS event, and nothing is stored."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from clients.ingest import IngestCreate, IngestStatus
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
