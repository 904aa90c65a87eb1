"""Names a submitter may send, anywhere in the transfer, end in an AIP bag that bagit-python and our own
validator take as valid, with every byte of every file present (issue 10)."""

from __future__ import annotations

import hashlib
import subprocess
import unicodedata
import uuid
from pathlib import Path

import bagit
from temporalio.testing import WorkflowEnvironment

from clients.ingest import IngestCreate, IngestStatus
from services.ingest.microservices.filenames import bag_safe_name, plan_renames
from services.transfer.transfers.bagit import validate_bag
from tests.ingest.test_processing_chain import configure
from tests.ingest.test_workflow import running_services, wait_for

CAFE_NFC = unicodedata.normalize("NFC", "café.txt")
CAFE_NFD = unicodedata.normalize("NFD", "café.txt")
LONG_ASCII = "a" * 251 + ".txt"  # 255 bytes
LONG_MULTIBYTE = "é" * 125 + "x.txt"  # 250 + 5 = 255 bytes
LONG_NFD = "e\u0301" * 83 + "ax.txt"  # 249 + 6 = 255 bytes, with a shorter NFC twin


def nasty_names() -> dict[str, bytes]:
    """Relative name → content; every content differs, so a mix-up cannot pass for a match."""
    names = ["100%done.txt", "50%25 literal.txt", "#hash #tag.txt", " lead and trail .txt ", "trailing ",
             CAFE_NFC, CAFE_NFD, LONG_ASCII, LONG_MULTIBYTE, LONG_NFD, unicodedata.normalize("NFC", LONG_NFD),
             "x%0Ay.txt", "sub dir %/in #side.txt", "line\nbreak.txt", "carriage\rreturn.txt"]
    assert len(LONG_ASCII.encode()) == 255 and len(LONG_MULTIBYTE.encode()) == 255
    return {name: f"content of {name!r}\n".encode() for name in names}


def test_bag_safe_names_keep_what_a_manifest_can_carry() -> None:
    assert bag_safe_name("100%done.txt") == "100%done.txt"
    assert bag_safe_name("#a b.txt") == "#a b.txt"
    assert bag_safe_name("x%0Ay%0d") == "x_0Ay_0d"
    assert bag_safe_name("a\nb\r") == "a_b_"
    assert bag_safe_name("ends in space \u00a0") == "ends in space__"
    assert bag_safe_name("bad\udce9byte") == "bad_byte"
    assert bag_safe_name(LONG_MULTIBYTE) == LONG_MULTIBYTE


def test_unicode_twins_are_told_apart_and_long_names_stay_within_255_bytes(tmp_path: Path) -> None:
    long_nfc = unicodedata.normalize("NFC", LONG_NFD)
    for name in (CAFE_NFC, CAFE_NFD, LONG_MULTIBYTE, "é" * 125 + "y.tx ", "z" * 254 + " ", LONG_NFD, long_nfc):
        assert len(name.encode()) <= 255
        (tmp_path / name).write_text(name)
    plan = plan_renames(tmp_path, bag_safe_name, lambda n: unicodedata.normalize("NFC", n))
    renamed = {op.old_name: op.new_name for op in plan.ops}
    assert CAFE_NFC not in renamed  # the NFC name is kept, its NFD twin renamed
    assert unicodedata.normalize("NFC", renamed[CAFE_NFD]) != CAFE_NFC
    assert all(len(new.encode()) <= 255 for new in renamed.values())
    assert renamed["z" * 254 + " "] == "z" * 254 + "_"
    assert long_nfc not in renamed and len(renamed[LONG_NFD].encode()) <= 255
    assert renamed[LONG_NFD].endswith("_1.txt")


def aip_bag(tmp_path: Path) -> Path:
    archive = next((tmp_path / "storage").rglob("*.7z"))
    out = tmp_path / "unpacked"
    subprocess.run(["7z", "x", "-bd", "-y", f"-o{out}", str(archive)], check=True, capture_output=True)
    (bag,) = list(out.iterdir())
    return bag


def digests_of(root: Path) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


async def test_an_aip_of_hostile_names_is_a_valid_bag(tmp_path: Path, temporal_env: WorkflowEnvironment) -> None:
    transfer_uuid = uuid.uuid4()
    root = tmp_path / "processing" / "transfers" / str(transfer_uuid)
    sent: set[str] = set()
    for folder in ("objects", "metadata", "logs", "logs/BagIt"):
        for name, content in nasty_names().items():
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            data = folder.encode() + b": " + content
            path.write_bytes(data)
            sent.add(hashlib.sha256(data).hexdigest())

    async with running_services(tmp_path, temporal_env) as services:
        await configure(services, "names", compression_algo="7z without compression")
        created = await services.ingest.create_ingest(IngestCreate(
            transfer_uuid=transfer_uuid, name="names", path=f"transfers/{transfer_uuid}",
            processing_config="names"))
        ingest = await wait_for(services.ingest, created.uuid, timeout=180)
        assert ingest.status == IngestStatus.stored, ingest.error
        events = (await services.metadata.list_events(created.uuid, limit=500)).items
        package_renames = [e for e in events if e.object_uuid == created.uuid and e.type == "filename change"]

    bag = aip_bag(tmp_path)
    bagit.Bag(str(bag)).validate()  # in full: every checksum, not only completeness
    report = validate_bag(bag)
    assert report.valid, report.errors
    assert (bag / "bagit.txt").read_text() == "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"
    logs = next((bag / "data" / "logs" / "transfers").iterdir()) / "logs"
    assert (logs / "100%done.txt").is_file() and (logs / "#hash #tag.txt").is_file()
    assert (logs / CAFE_NFC).is_file() and (logs / LONG_MULTIBYTE).is_file()
    assert sent <= digests_of(bag / "data")
    # What had to change in logs/ (trailing spaces, a literal %0A, the NFD twin) is on record.
    notes = {e.outcome_note for e in package_renames}
    assert any("x%0Ay.txt" in note for note in notes)
    assert any(CAFE_NFD in note for note in notes)
    # per logs folder: two trailing-space names, %0A, the two NFD twins, LF, CR
    assert len(package_renames) == 2 * 7
