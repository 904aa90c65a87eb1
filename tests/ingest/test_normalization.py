"""Normalization in the ingest chain, on the real tools: derivatives by the registry's rules, a failure that is
reported and recorded while the ingest goes on, a redo after a rule was edited through the API, the PREMIS record
(derivatives with their own identification and events, relationships both ways) and the bag holding it all."""

from __future__ import annotations

import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.ingest import IngestCreate, IngestStatus, ProcessingConfigFields
from clients.ingest.fpr import RuleUpdate
from clients.storage import StorageClient
from servicekit.http import ServiceError
from servicekit.ids import derived_id
from services.ingest.processing_configs.processing_mcp import render_processing_mcp
from tests.ingest.test_processing_chain import configure, place
from tests.ingest.test_workflow import TOKEN, running_services, wait_for, wait_for_decision


def make_transfer(objects: Path) -> None:
    """A page of text, a photo, a sound and a broken TIFF, made by the tools the rules use."""
    subprocess.run(["vips", "text", str(objects / "page.png"), "Preservation archive ledger", "--dpi", "300"],
                   check=True)
    subprocess.run(["vips", "copy", str(objects / "page.png"), str(objects / "scan.tif")], check=True)
    (objects / "broken.tif").write_bytes((objects / "scan.tif").read_bytes()[:600])
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=1", "-frames:v", "1",
                    str(objects / "photos" / "photo.jpg")], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5",
                    str(objects / "tone.wav")], check=True)
    # The archivist's own preservation copy of the sound, in Archivematica's place for it.
    manual = objects / "manualNormalization" / "preservation"
    manual.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(objects / "tone.wav"), str(manual / "tone.flac")], check=True)


async def test_normalization_redo_approve_and_the_record(tmp_path: Path, temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    objects = place(tmp_path / "processing", transfer_uuid)
    (objects / "photos").mkdir()
    make_transfer(objects)
    async with running_services(tmp_path, temporal_env) as services:
        await configure(services, "normalize-ask", normalize="Normalize for preservation and access",
                        normalize_thumbnail_mode="Yes", transcribe_file="Yes", normalize_transfer="ask")
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="normalized", path=f"transfers/{transfer_uuid}",
            processing_config="normalize-ask"))
        await wait_for_decision(services.ingest, created.uuid, "normalize_transfer")
        report = (await services.ingest.normalization_report(created.uuid, limit=1000)).items
        rows = {(r.path, r.purpose): r for r in report}
        assert rows[("objects/scan.tif", "preservation")].outcome == "success"
        assert rows[("objects/scan.tif", "preservation")].output_puid in ("fmt/353", "fmt/155")
        broken = rows[("objects/broken.tif", "preservation")]
        assert broken.outcome == "failed" and broken.reason and broken.decision is None
        assert rows[("objects/tone.wav", "access")].output_puid == "fmt/134"
        assert rows[("objects/tone.wav", "preservation")].outcome == "manual"
        assert rows[("objects/scan.tif", "access")].outcome == "success"
        assert rows[("objects/page.png", "transcription")].outcome == "success"
        # The photo's preservation rule changes to lossless JPEG 2000 through the API; redo uses it.
        photo = next(f for f in (await services.metadata.list_files(created.uuid, limit=100)).items
                     if f.path == "objects/photos/photo.jpg")
        jp2 = (await services.ingest.list_format_rules(purpose="preservation", puid=photo.puid, limit=10)).items
        by_command = {rule.command: rule for rule in jp2}
        assert by_command["vips-to-tiff"].successes >= 1  # the rule's counter moved with the first attempt
        assert by_command["vips-to-jp2-lossless"].successes == 0
        await services.ingest.update_format_rule(by_command["vips-to-tiff"].uuid, RuleUpdate(enabled=False))
        await services.ingest.update_format_rule(by_command["vips-to-jp2-lossless"].uuid, RuleUpdate(enabled=True))
        await services.ingest.http.post(f"/ingests/{created.uuid}/decisions",
                                        json={"point": "normalize_transfer", "choice": "Redo"})
        await wait_for_decision(services.ingest, created.uuid, "normalize_transfer")
        first = (await services.ingest.normalization_report(created.uuid, attempt=1, limit=1000)).items
        assert {r.decision for r in first} == {"Redo"}
        second = {(r.path, r.purpose): r for r in
                  (await services.ingest.normalization_report(created.uuid, limit=1000)).items}
        assert second[("objects/photos/photo.jpg", "preservation")].output_puid == "x-fmt/392"
        assert (await services.ingest.get_format_rule(by_command["vips-to-jp2-lossless"].uuid)).successes >= 1
        await services.ingest.http.post(f"/ingests/{created.uuid}/decisions",
                                        json={"point": "normalize_transfer", "choice": "Approve"})
        ingest = await wait_for(services.ingest, created.uuid, timeout=120)
        assert ingest.status == IngestStatus.stored, ingest.error

        files = {f.path: f for f in (await services.metadata.list_files(created.uuid, limit=1000)).items}
        derivative = next(f for f in files.values() if f.use == "preservation" and "photo-" in f.path)
        assert derivative.path.startswith("objects/photos/photo-") and derivative.path.endswith(".jp2")
        assert derivative.puid == "x-fmt/392"
        original = files["objects/photos/photo.jpg"]
        assert [(r.subtype, r.related_object_uuid) for r in original.relationships] == [
            ("is source of", derivative.uuid)]
        assert [(r.subtype, r.related_object_uuid) for r in derivative.relationships] == [
            ("has source", original.uuid)]
        # Nothing of the redone attempt remains: one preservation copy per original that has a rule.
        assert sorted(f.path.split("-")[0] for f in files.values() if f.use == "preservation") == [
            "objects/manualNormalization/preservation/tone.flac", "objects/page", "objects/photos/photo",
            "objects/scan"]
        manual = files["objects/manualNormalization/preservation/tone.flac"]
        assert [(r.subtype, r.related_object_uuid) for r in manual.relationships] == [
            ("has source", files["objects/tone.wav"].uuid)]
        assert [(r.subtype, r.related_object_uuid) for r in files["objects/tone.wav"].relationships] == [
            ("is source of", manual.uuid)]
        ocr = [f for f in files.values() if f.use == "text/ocr"]
        assert any(f.path == f"objects/metadata/OCRfiles/page-{files['objects/page.png'].uuid}.txt" for f in ocr)
        kinds = {e.type: e for e in (await services.metadata.list_events(
            created.uuid, object_uuid=derivative.uuid, limit=100)).items}
        assert {"creation", "message digest calculation", "format identification", "validation"} <= set(kinds)
        failed = [e for e in (await services.metadata.list_events(
            created.uuid, object_uuid=files["objects/broken.tif"].uuid, limit=100)).items
            if e.type == "normalization"]
        assert [e.outcome for e in failed] == ["failure"] and failed[0].outcome_note
        page_events = (await services.metadata.list_events(
            created.uuid, object_uuid=files["objects/page.png"].uuid, limit=100)).items
        assert any(e.type == "transcription" and e.outcome == "transcribed" for e in page_events)

        # The DIP: stored as a tar under its own UUID, linked to the AIP, with an access copy and a thumbnail for
        # every original, the METS, processingMCP.xml and the OCR text.
        async with StorageClient(services.ingest_settings.storage_url, token=TOKEN) as storage:
            dip = await storage.get_package(derived_id(created.uuid, "dip"))
        assert dip.related_package_uuid == created.uuid and dip.package_type.value == "dip"
        tars = [p for p in (tmp_path / "storage").rglob("*.tar") if p.is_file()]
        assert len(tars) == 1
        with tarfile.open(tars[0]) as tar:
            names = tar.getnames()
            top = f"normalized-{created.uuid}"
            originals = [f for f in files.values() if f.use == "original"]
            for original in originals:
                assert any(n.startswith(f"{top}/objects/{original.uuid}-") for n in names), original.path
                assert f"{top}/thumbnails/{original.uuid}.jpg" in names, original.path
            assert f"{top}/METS.{created.uuid}.xml" in names and f"{top}/processingMCP.xml" in names
            text = tar.extractfile(f"{top}/OCRfiles/page-{files['objects/page.png'].uuid}.txt")
            assert text is not None and "archive ledger" in text.read().decode().lower()


APPROVE_CHAIN = "1e0df175-d56d-450d-8bee-7df1dc7ae815"
# Archivematica's other two chains at "Approve normalization" (workflow.json): Redo and Reject.
CHAINS = {"Redo": "cbe9b4a3-e4e6-4a32-8d7c-3adfc409cb6f", "Reject": "169a5448-c756-4705-a920-737de6b8d595"}


def make_plate(path: Path) -> None:
    subprocess.run(["vips", "black", str(path), "16", "16"], check=True)


async def test_a_bundled_processing_mcp_choosing_redo_or_reject_is_honoured(
    tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    """A processingMCP.xml in the transfer answering "Approve normalization" with Archivematica's Redo chain redoes
    once, then asks a person; with its Reject chain no derivative is kept and no DIP is made."""
    answered = render_processing_mcp(ProcessingConfigFields(
        normalize="Normalize for preservation and access", normalize_thumbnail_mode="Yes",
        normalize_transfer="Approve", transcribe_file="No"))
    assert answered.count(APPROVE_CHAIN) == 1
    transfers = {}
    for decision, chain in CHAINS.items():
        transfers[decision] = uuid.uuid4()
        objects = place(tmp_path / "processing", transfers[decision])
        make_plate(objects / "plate.png")
        (objects.parent / "processingMCP.xml").write_text(answered.replace(APPROVE_CHAIN, chain))
    async with running_services(tmp_path, temporal_env) as services:
        created = {decision: await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name=decision.lower(), path=f"transfers/{transfer_uuid}"))
            for decision, transfer_uuid in transfers.items()}

        redo = created["Redo"].uuid
        await wait_for_decision(services.ingest, redo, "normalize_transfer")
        first = (await services.ingest.normalization_report(redo, attempt=1, limit=100)).items
        assert first and {r.decision for r in first} == {"Redo"}
        second = (await services.ingest.normalization_report(redo, limit=100)).items
        assert {(r.purpose, r.outcome, r.decision) for r in second} == {
            ("preservation", "success", None), ("access", "success", None), ("thumbnail", "success", None)}
        await services.ingest.http.post(f"/ingests/{redo}/decisions",
                                        json={"point": "normalize_transfer", "choice": "Approve"})
        assert (await wait_for(services.ingest, redo, timeout=120)).status == IngestStatus.stored

        reject = created["Reject"].uuid
        ingest = await wait_for(services.ingest, reject, timeout=120)
        assert ingest.status == IngestStatus.stored, ingest.error
        assert ingest.warnings == []  # the choice was followed, not ignored
        report = (await services.ingest.normalization_report(reject, limit=100)).items
        assert report and {r.decision for r in report} == {"Reject"}

        for decision, ingest_uuid in ((d, c.uuid) for d, c in created.items()):
            files = (await services.metadata.list_files(ingest_uuid, limit=100)).items
            kept = sorted(f.use for f in files if f.use in ("original", "preservation"))
            assert kept == (["original", "preservation"] if decision == "Redo" else ["original"]), decision
            original = next(f for f in files if f.path == "objects/plate.png")
            events = (await services.metadata.list_events(ingest_uuid, object_uuid=original.uuid, limit=100)).items
            assert [e.type for e in events].count("normalization") == (1 if decision == "Redo" else 0), decision
        async with StorageClient(services.ingest_settings.storage_url, token=TOKEN) as storage:
            assert (await storage.get_package(derived_id(redo, "dip"))).related_package_uuid == redo
            with pytest.raises(ServiceError) as missing:
                await storage.get_package(derived_id(reject, "dip"))
            assert missing.value.status == 404
