"""The per-file micro-services in the workflow, on the real tools: names sanitized, packages opened (recursively),
viruses found (a clamd started by the worker on a test signature database), files characterized, and every file
that leaves the SIP still recorded."""

from __future__ import annotations

import asyncio
import io
import subprocess
import uuid
from pathlib import Path

import pytest
from lxml import etree
from rich.console import Console
from temporalio.testing import WorkflowEnvironment

from amber_cli.ingest import summary
from clients.ingest import IngestCreate, IngestRead, IngestStatus, ProcessingConfigFields
from services.ingest.processing_configs.processing_mcp import render_processing_mcp
from tests.ingest.test_workflow import Services, png, running_services, wait_for
from tests.signatures import EICAR, write_test_signatures

METS = "{http://www.loc.gov/METS/}"
PREMIS = "{http://www.loc.gov/premis/v3}"


def zip_of(target: Path, members: dict[str, bytes]) -> Path:
    """A zip made by 7-Zip from a staging folder holding `members`."""
    staging = target.with_name(target.name + ".staging")
    for name, data in members.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    subprocess.run(["7z", "a", "-tzip", "-bd", "-y", str(target.absolute()), "."], cwd=staging, check=True,
                   capture_output=True)
    subprocess.run(["rm", "-rf", str(staging)], check=True)
    return target


def place(processing: Path, transfer_uuid: uuid.UUID) -> Path:
    objects = processing / "transfers" / str(transfer_uuid) / "objects"
    objects.mkdir(parents=True)
    return objects


async def configure(services: Services, name: str, **answers: str) -> None:
    fields = ProcessingConfigFields.model_validate(answers)
    await services.ingest.put_processing_config(name, fields)


async def events_by_path(services: Services, ingest_uuid: uuid.UUID) -> dict[str, list[tuple[str, str, str, str]]]:
    files = (await services.metadata.list_files(ingest_uuid, limit=100)).items
    found = {}
    for record in files:
        events = (await services.metadata.list_events(ingest_uuid, object_uuid=record.uuid, limit=100)).items
        found[record.path] = [(e.type, e.detail, e.outcome, e.outcome_note) for e in events]
    return found


async def test_names_packages_viruses_and_characterization(tmp_path: Path,
                                                          temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    objects = place(tmp_path / "processing", transfer_uuid)
    (objects / "Café menu (v2)!.txt").write_text("soup of the day\n")
    (objects / "picture.png").write_bytes(png(4, 4))
    (objects / "eicar.com").write_text(EICAR)
    inner = zip_of(tmp_path / "inner.zip", {"deep note.txt": b"at the bottom\n"})
    zip_of(objects / "bundle.zip", {"docs/read me.txt": b"hello\n", "docs/inner.zip": inner.read_bytes()})
    (objects / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)  # a zip signature, then nothing usable
    documentation = objects.parent / "metadata" / "submissionDocumentation"
    documentation.mkdir(parents=True)
    (documentation / "deed of gift.txt").write_text("given freely\n")

    database = write_test_signatures(tmp_path / "signatures")
    async with running_services(tmp_path, temporal_env, clamav_database_dir=database) as services:
        await configure(services, "quarantine", infected_files="Quarantine", delete_packages="Yes")
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="chain", path=f"transfers/{transfer_uuid}",
            processing_config="quarantine"))
        ingest = await wait_for(services.ingest, created.uuid, timeout=120)
        assert ingest.status == IngestStatus.stored, ingest.error

        files = {f.path: f for f in (await services.metadata.list_files(created.uuid, limit=100)).items}
        events = await events_by_path(services, created.uuid)
        extracted = next(p for p in files if p.startswith("objects/bundle.zip-") and p.endswith("read_me.txt"))
        folder = extracted.split("/")[1]
        nested = next(p for p in files if p.endswith("/deep_note.txt"))
        assert nested.startswith(f"objects/{folder}/docs/inner.zip-")

        # Submission documentation kept apart, in its own fileGrp.
        deed = files[f"objects/submissionDocumentation/transfer-chain-{transfer_uuid}/deed_of_gift.txt"]
        assert deed.use == "submissionDocumentation"
        assert files["objects/picture.png"].use == "original"

        # Sanitized, with the original name kept.
        renamed = files["objects/Cafe_menu_(v2)_.txt"]
        assert renamed.original_name == "%transferDirectory%objects/Café menu (v2)!.txt"
        change = next(e for e in events[renamed.path] if e[0] == "filename change")
        assert change[3] == ('Original name="%transferDirectory%objects/Café menu (v2)!.txt"; '
                             'new name="%transferDirectory%objects/Cafe_menu_(v2)_.txt"')
        assert files[extracted].original_name == f"%transferDirectory%objects/{folder}/docs/read me.txt"

        # Extracted recursively; each extracted file says where it came from; the package is gone but recorded.
        bundle = files["objects/bundle.zip"]
        unpacking = [e for e in events[extracted] if e[0] == "unpacking"]
        assert unpacking == [("unpacking", f"Unpacked from: %transferDirectory%objects/bundle.zip ({bundle.uuid})",
                              "", "")]
        assert any(e[0] == "unpacking" for e in events[nested])
        assert bundle.use == "deleted"
        assert ("file removed", "removed after extraction") in {e[:2] for e in events["objects/bundle.zip"]}

        # A broken package fails alone, with the reason, and stays in the AIP.
        broken = [e for e in events["objects/broken.zip"] if e[0] == "unpacking"]
        assert len(broken) == 1 and broken[0][2] == "Fail" and broken[0][3]
        assert files["objects/broken.zip"].use == "original"

        # The infected file: found, quarantined, recorded.
        scan = [e for e in events["objects/eicar.com"] if e[0] == "virus check"]
        assert [e[2] for e in scan] == ["Fail"] and scan[0][3].startswith("Eicar-")
        assert files["objects/eicar.com"].use == "deleted"
        assert (tmp_path / "processing" / "quarantine" / str(created.uuid) / "objects" / "eicar.com").read_text() \
            == EICAR
        clean = [e for e in events["objects/picture.png"] if e[0] == "virus check"]
        assert [e[2] for e in clean] == ["Pass"]
        assert 'program="ClamAV (clamd)"' in clean[0][1]

        # Tasks: one per file, failures say which file and why.
        tasks = (await services.ingest.http.get(f"/ingests/{created.uuid}/tasks",
                                                params={"limit": 100})).json()["items"]
        failed = {t["path"]: t["message"] for t in tasks if t["status"] == "failed"}
        assert set(failed) == {"objects/eicar.com", "objects/broken.zip"}
        assert "infected: Eicar-" in failed["objects/eicar.com"]
        assert "extraction failed" in failed["objects/broken.zip"]

        # The METS: characterization output, removed files in their own group, the bag without them.
        mets_path = tmp_path / "mets.xml"
        await services.metadata.download_mets(created.uuid, mets_path)
        tree = etree.parse(str(mets_path))
        groups = [group.get("USE") for group in tree.iter(f"{METS}fileGrp")]
        assert groups == ["original", "submissionDocumentation", "deleted"]
        deleted = tree.find(f".//{METS}fileGrp[@USE='deleted']")
        assert deleted is not None
        inner_zip = files[f"objects/{folder}/docs/inner.zip"]
        assert {f.get("ID") for f in deleted} == {f"file-{r.uuid}" for r in (bundle, inner_zip,
                                                                            files["objects/eicar.com"])}
        assert deleted.find(f".//{METS}FLocat") is None
        extensions = tree.findall(f".//{PREMIS}objectCharacteristicsExtension")
        assert extensions and any(ext.find(".//{*}ExifToolVersion") is not None or len(ext) for ext in extensions)

        aip = next((tmp_path / "storage").rglob("*.7z"))
        listing = (await asyncio.to_thread(subprocess.run, ["7z", "l", "-ba", "-slt", str(aip)],
                                           capture_output=True, text=True, check=True)).stdout
        assert "eicar.com" not in listing and "bundle.zip\n" not in listing
        assert "deep_note.txt" in listing and "broken.zip" in listing


async def test_an_infected_file_fails_the_transfer_by_default(tmp_path: Path,
                                                              temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    objects = place(tmp_path / "processing", transfer_uuid)
    (objects / "fine.txt").write_text("nothing to see\n")
    zip_of(objects / "carrier.zip", {"eicar.com": EICAR.encode()})
    database = write_test_signatures(tmp_path / "signatures")
    async with running_services(tmp_path, temporal_env, clamav_database_dir=database) as services:
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="infected", path=f"transfers/{transfer_uuid}"))
        ingest = await wait_for(services.ingest, created.uuid, timeout=120)
        assert ingest.status == IngestStatus.failed
        assert ingest.error is not None and "objects/carrier.zip" in ingest.error and "infected" in ingest.error
        assert not list((tmp_path / "storage").rglob("*.7z"))
        # Nothing was opened or moved: the infected package is where it was.
        sip = tmp_path / "processing" / "sips" / str(created.uuid)
        assert list(sip.rglob("carrier.zip")) and not list(sip.rglob("carrier.zip-*"))


async def test_files_over_the_scan_limit_are_reported_not_scanned(tmp_path: Path,
                                                                   temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    objects = place(tmp_path / "processing", transfer_uuid)
    (objects / "big.bin").write_bytes(b"\0" * (2 * 1024 * 1024))
    (objects / "small.txt").write_text("small\n")
    database = write_test_signatures(tmp_path / "signatures")
    async with running_services(tmp_path, temporal_env, clamav_database_dir=database,
                                clamav_max_file_size_mb=1) as services:
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="limits", path=f"transfers/{transfer_uuid}"))
        ingest = await wait_for(services.ingest, created.uuid, timeout=120)
        assert ingest.status == IngestStatus.stored, ingest.error
        events = await events_by_path(services, created.uuid)
        big = [e for e in events["objects/big.bin"] if e[0] == "virus check"]
        assert [e[2] for e in big] == ["Not scanned"] and "limit" in big[0][3]
        assert [e[2] for e in events["objects/small.txt"] if e[0] == "virus check"] == ["Pass"]


async def test_fido_can_be_chosen_to_identify_formats(tmp_path: Path, temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    objects = place(tmp_path / "processing", transfer_uuid)
    (objects / "picture.png").write_bytes(png(4, 4))
    (objects / "notes.txt").write_text("plain words\n")
    async with running_services(tmp_path, temporal_env) as services:
        await configure(services, "fido", format_id_tool="FIDO")
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="fido", path=f"transfers/{transfer_uuid}", processing_config="fido"))
        ingest = await wait_for(services.ingest, created.uuid, timeout=120)
        assert ingest.status == IngestStatus.stored, ingest.error
        files = {f.path: f for f in (await services.metadata.list_files(created.uuid, limit=100)).items}
        assert files["objects/picture.png"].puid == "fmt/11"
        assert files["objects/notes.txt"].puid == "x-fmt/111"  # by extension: FIDO says so in the basis
        assert (files["objects/notes.txt"].format_basis or "").startswith("extension")
        events = await events_by_path(services, created.uuid)
        identification = [e for e in events["objects/picture.png"] if e[0] == "format identification"]
        assert [(e[1].split(";")[0], e[2], e[3]) for e in identification] == [('program="Fido"', "Positive", "fmt/11")]


async def test_a_transfer_can_be_sent_to_the_backlog(tmp_path: Path, temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    objects = place(tmp_path / "processing", transfer_uuid)
    (objects / "letter.txt").write_text("dear archivist\n")
    async with running_services(tmp_path, temporal_env) as services:
        await configure(services, "backlog", create_sip="Send to backlog")
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="later", path=f"transfers/{transfer_uuid}",
            processing_config="backlog"))
        ingest = await wait_for(services.ingest, created.uuid, timeout=120)
        assert ingest.status == IngestStatus.backlogged, ingest.error
        assert not list((tmp_path / "storage").rglob("*.7z"))
        stored = [p for p in (tmp_path / "storage").rglob("letter.txt")]
        assert len(stored) == 1 and stored[0].read_text() == "dear archivist\n"
        assert not (tmp_path / "processing" / "sips" / str(created.uuid)).exists()
        # The record keeps the file with its checksum and events, for SIP creation later.
        files = (await services.metadata.list_files(created.uuid, limit=10)).items
        assert [f.path for f in files] == ["objects/letter.txt"]


async def test_a_bundled_processing_mcp_replaces_the_configuration(tmp_path: Path,
                                                                   temporal_env: WorkflowEnvironment) -> None:
    """An Archivematica processingMCP.xml in the transfer wins over the named configuration; an empty one (as in
    the corpus's ZippedDirectoryTransfer) asks at every point Archivematica has."""
    transfer_uuid = uuid.uuid4()
    objects = place(tmp_path / "processing", transfer_uuid)
    (objects / "page.txt").write_text("one page\n")
    (objects.parent / "processingMCP.xml").write_text("<processingMCP><preconfiguredChoices/></processingMCP>\n")
    preferred = {"create_sip": "Create single SIP and continue processing", "store_aip": "Store AIP",
                 "compression_level": "1"}
    async with running_services(tmp_path, temporal_env) as services:
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="bundled", path=f"transfers/{transfer_uuid}"))
        asked: list[str] = []
        async with asyncio.timeout(120):
            while True:
                ingest = await services.ingest.get_ingest(created.uuid)
                if ingest.status in (IngestStatus.stored, IngestStatus.failed, IngestStatus.rejected):
                    break
                if ingest.status == IngestStatus.awaiting_decision and ingest.decision is not None:
                    point = ingest.decision.point
                    if not asked or asked[-1] != point:
                        asked.append(point)
                        choice = preferred.get(point, ingest.decision.choices[0])
                        await services.ingest.http.post(f"/ingests/{created.uuid}/decisions",
                                                        json={"point": point, "choice": choice})
                await asyncio.sleep(0.1)
        assert ingest.status == IngestStatus.stored, ingest.error
        assert asked == ["generate_transfer_structure", "virus_scanning", "select_format_id_tool_transfer",
                         "extract_packages", "delete_packages", "assign_uuids_to_directories", "create_sip",
                         "normalize", "normalize_thumbnail_mode", "transcribe_file", "normalize_transfer",
                         "reminder", "compression_algo", "compression_level", "store_aip", "upload_dip", "store_dip"]
        # Amber's own points (what to do with infected files, which identification tool) kept the
        # configuration's answers: no Archivematica file speaks to them.
        assert "infected_files" not in asked and "format_id_tool" not in asked


async def test_processing_mcp_choices_amber_does_not_implement_are_warnings_on_the_ingest(
    tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    """Links not built yet (AIP location, normative structMap) and a link Amber does not know are not followed:
    the ingest says so."""
    transfer_uuid = uuid.uuid4()
    objects = place(tmp_path / "processing", transfer_uuid)
    (objects / "page.txt").write_text("one page\n")
    unanswered = render_processing_mcp(ProcessingConfigFields())
    extra = "".join(
        f"<preconfiguredChoice><appliesTo>{link}</appliesTo><goToChain>{target}</goToChain></preconfiguredChoice>"
        for link, target in [("b320ce81-9982-408a-9502-097d0daa48fa", "/api/v2/location/default/AS/"),
                             ("d0dfa5fc-e3c2-4638-9eda-f96eea1070e0", "65273f18-5b4e-4944-af4f-09be175a88e8"),
                             ("5b0ac0c6-1bd3-4b1d-a2c0-52b4b8a1a0c9", "0f5e9a5b-2f0a-4c7e-9d0b-3f1d2c4b5a6e")]
    )
    (objects.parent / "processingMCP.xml").write_text(
        unanswered.replace("</preconfiguredChoices>", f"{extra}</preconfiguredChoices>"))
    async with running_services(tmp_path, temporal_env) as services:
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="normalize me", path=f"transfers/{transfer_uuid}"))
        ingest = await wait_for(services.ingest, created.uuid, timeout=120)
        assert ingest.status == IngestStatus.stored, ingest.error
        assert [(w.source, w.link, w.link_name, w.choice_name) for w in ingest.warnings] == [
            ("processingMCP.xml", "b320ce81-9982-408a-9502-097d0daa48fa", "Store AIP location",
             "Default AIP storage location"),
            ("processingMCP.xml", "d0dfa5fc-e3c2-4638-9eda-f96eea1070e0", "Document empty directories", None),
            ("processingMCP.xml", "5b0ac0c6-1bd3-4b1d-a2c0-52b4b8a1a0c9", None, None),
        ]
        assert "not implemented in Amber yet" in ingest.warnings[0].message
        assert "not a decision point Amber knows" in ingest.warnings[2].message
        listed = (await services.ingest.http.get("/ingests")).json()["items"]
        assert [len(item["warnings"]) for item in listed] == [3]
        # `amber ingest --wait` ends with them in its summary.
        shown = io.StringIO()
        Console(file=shown, width=300).print(summary({
            "transfer_id": str(transfer_uuid), "name": "normalize me", "status": ingest.status.value,
            "aip_id": str(ingest.uuid), "warnings": [warning.message for warning in ingest.warnings],
        }))
        assert "warning    “Store AIP location” is not implemented in Amber yet; the choice “Default AIP storage " \
               "location” (/api/v2/location/default/AS/) was ignored" in shown.getvalue()
        assert shown.getvalue().count("warning ") == 3


async def first_final_status(services: Services, ingest_uuid: uuid.UUID, sip: Path,
                             timeout: float = 120) -> tuple[IngestRead, bool]:
    """Poll as fast as the service answers; at the first final status, whether the SIP folder is still there.

    A client that sees a final status must be able to rely on what it implies (the working copy is gone)."""
    final = (IngestStatus.stored, IngestStatus.failed, IngestStatus.rejected, IngestStatus.backlogged)
    async with asyncio.timeout(timeout):
        while True:
            ingest = await services.ingest.get_ingest(ingest_uuid)
            if ingest.status in final:
                return ingest, await asyncio.to_thread(sip.exists)
            await asyncio.sleep(0)


@pytest.mark.parametrize("create_sip", ["Send to backlog", "Create single SIP and continue processing"])
async def test_a_final_status_is_reported_only_after_the_sip_folder_is_removed(
        tmp_path: Path, temporal_env: WorkflowEnvironment, create_sip: str) -> None:
    """The backlog test failed on a fresh machine: `backlogged` was reported before the SIP folder was removed.
    Many empty folders make the removal slow enough for a fast poll to see any gap."""
    transfer_uuid = uuid.uuid4()
    objects = place(tmp_path / "processing", transfer_uuid)
    (objects / "letter.txt").write_text("dear archivist\n")
    for number in range(4_000):
        (objects / "many" / f"{number // 100:03d}" / f"{number % 100:02d}").mkdir(parents=True)
    async with running_services(tmp_path, temporal_env) as services:
        await configure(services, "fast", create_sip=create_sip, virus_scanning="No",
                        select_format_id_tool_transfer="No", extract_packages="No")
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="race", path=f"transfers/{transfer_uuid}", processing_config="fast"))
        ingest, sip_present = await first_final_status(services, created.uuid,
                                                       tmp_path / "processing" / "sips" / str(created.uuid))
        assert ingest.status in (IngestStatus.backlogged, IngestStatus.stored), ingest.error
        assert not sip_present
