"""Preservation actions through the gateway: a transfer made by the real tools, ingested with the built-in
`normalize` configuration, becomes an AIP with preservation copies (identified as their rules' target formats,
linked both ways in a schema-valid METS that metsrw reads), OCR text, a normalization report naming the failure,
and a stored DIP with an access copy and a thumbnail for every original."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import bagit
import metsrw
import pytest
from lxml import etree

from services.ingest.processing.normalizing import FILES_PER_HOP
from services.metadata.mets.validation import validate_mets
from tests.e2e.conftest import Stack
from tests.e2e.test_first_path import NS, download_and_unpack

pytestmark = pytest.mark.e2e


def run(*argv: str, cwd: Path | None = None) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, cwd=cwd)


def make_transfer(root: Path) -> None:
    """TIFF, JPEG, PNG, PDF, WAV, MP3, a 1-second MP4, a DOCX (LibreOffice, when installed), a page of text for
    OCR, and a truncated TIFF."""
    images, media, docs = root / "images", root / "media", root / "docs"
    for folder in (images, media, docs):
        folder.mkdir(parents=True)
    run("vips", "text", str(images / "page.png"), "Preservation archive ledger", "--dpi", "300")
    run("vips", "copy", str(images / "page.png"), str(images / "scan.tif"))
    (images / "truncated.tif").write_bytes((images / "scan.tif").read_bytes()[:600])
    run("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=1", "-frames:v", "1",
        str(images / "photo.jpg"))
    run("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", str(media / "tone.wav"))
    run("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=0.5", "-c:a", "libmp3lame",
        str(media / "song.mp3"))
    run("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-f", "lavfi", "-i",
        "sine=frequency=300:duration=1", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
        str(media / "clip.mp4"))
    run("gs", "-q", "-sDEVICE=pdfwrite", "-o", str(docs / "report.pdf"), "-c",
        "/Helvetica findfont 24 scalefont setfont 72 700 moveto (Annual report) show showpage")
    if shutil.which("soffice"):
        (docs / "letter.txt").write_text("Letter to the archive\n")
        run("soffice", "--headless", "--convert-to", "docx", "--outdir", str(docs), str(docs / "letter.txt"))
        (docs / "letter.txt").unlink()


def test_normalization_through_the_gateway(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "Mixed formats"
    make_transfer(source)
    originals = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    result = stack.amber("ingest", str(source), "--processing-config", "normalize", "--wait", "--json", timeout=300)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "stored", summary
    aip_id = summary["aip_id"]

    with stack.client() as http:
        report = http.get(f"/api/v1/ingests/{aip_id}/normalization", params={"limit": 1000}).json()["items"]
        rows = {(r["path"], r["purpose"]): r for r in report}
        failed = rows[("objects/images/truncated.tif", "preservation")]
        assert failed["outcome"] == "failed" and failed["reason"] and failed["decision"] == "Approve"
        # Every preservation copy is what its rule's command promises (the runner also ran its verifier).
        made = [r for r in report if r["purpose"] == "preservation" and r["outcome"] == "success"]
        assert {r["path"] for r in made} >= {"objects/images/scan.tif", "objects/images/photo.jpg",
                                             "objects/images/page.png", "objects/media/song.mp3",
                                             "objects/media/clip.mp4", "objects/docs/report.pdf"}
        for row in made:
            command = http.get(f"/api/v1/format-commands/{row['command']}").json()
            assert row["output_puid"] in command["output_puids"], row
        dip_tar = fetch_dip(http, aip_id, tmp_path)

    bag_root = download_and_unpack(stack, aip_id, tmp_path) / f"Mixed_formats-{aip_id}"
    bagit.Bag(str(bag_root)).validate()
    mets_path = bag_root / "data" / f"METS.{aip_id}.xml"
    assert validate_mets(mets_path) == []
    tree = etree.parse(str(mets_path))
    preservation = tree.findall(".//mets:fileGrp[@USE='preservation']/mets:file", NS)
    assert len(preservation) == len(made)
    for file in preservation:
        original_group = file.get("GROUPID")
        sources = tree.findall(f".//mets:fileGrp[@USE='original']/mets:file[@GROUPID='{original_group}']", NS)
        assert len(sources) == 1  # the derivative is grouped with its original
        derivative_uuid = file.get("ID").removeprefix("file-")
        original_uuid = sources[0].get("ID").removeprefix("file-")
        assert relationship(tree, derivative_uuid) == ("has source", original_uuid)
        assert relationship(tree, original_uuid) == ("is source of", derivative_uuid)
    assert tree.find(".//mets:fileGrp[@USE='text/ocr']", NS) is not None
    # metsrw finds every derivative from its original.
    found_from_originals(mets_path, preservation)
    assert (bag_root / "data" / "logs" / "normalization.log").read_text().count("\tfailed\t") >= 1

    with tarfile.open(dip_tar) as tar:
        names = tar.getnames()
        top = f"Mixed_formats-{aip_id}"
        uuids = {original: original_uuid_of(tree, original) for original in originals}
        for original, file_uuid in uuids.items():
            assert any(n.startswith(f"{top}/objects/{file_uuid}-") for n in names), original
            assert f"{top}/thumbnails/{file_uuid}.jpg" in names, original
        assert f"{top}/METS.{aip_id}.xml" in names and f"{top}/processingMCP.xml" in names
        ocr = [n for n in names if n.startswith(f"{top}/OCRfiles/page-") and n.endswith(".txt")]
        assert len(ocr) == 1
        text = tar.extractfile(ocr[0])
        assert text is not None and "archive ledger" in text.read().decode().lower()


def fetch_dip(http: Any, aip_id: str, dest: Path) -> Path:
    """The AIP's one DIP, found by its relation to the AIP and downloaded through the gateway as `dest/dip.tar`."""
    dips = http.get("/api/v1/packages", params={"package_type": "dip", "related_to": aip_id}).json()["items"]
    assert len(dips) == 1 and dips[0]["related_package_uuid"] == aip_id, dips
    archive = dest / "dip.tar"
    with http.stream("GET", f"/api/v1/packages/{dips[0]['uuid']}/download") as response:
        assert response.status_code == 200, response.read()
        with archive.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    return archive


def found_from_originals(mets_path: Path, preservation: list[Any]) -> dict[str, Any]:
    """metsrw finds each preservation copy (`preservation`: its mets:file elements) from its original; returns
    metsrw's entries by file UUID."""
    document = metsrw.METSDocument.fromfile(str(mets_path))
    by_uuid = {entry.file_uuid: entry for entry in document.all_files() if entry.file_uuid}
    for file in preservation:
        entry = by_uuid[file.get("ID").removeprefix("file-")]
        assert entry.use == "preservation" and entry.group_id() == file.get("GROUPID")
        assert entry.derived_from is not None and entry.derived_from.use == "original"
        assert f"Group-{entry.derived_from.file_uuid}" == file.get("GROUPID")
    return by_uuid


def relationship(tree: etree._ElementTree, file_uuid: str) -> tuple[str, str]:
    obj = next(o for o in tree.iterfind(".//premis:object", NS)
               if o.findtext("premis:objectIdentifier/premis:objectIdentifierValue", namespaces=NS) == file_uuid)
    found = obj.find("premis:relationship", NS)
    assert found is not None, file_uuid
    return (found.findtext("premis:relationshipSubType", namespaces=NS) or "",
            found.findtext("premis:relatedObjectIdentifier/premis:relatedObjectIdentifierValue", namespaces=NS)
            or "")


def original_uuid_of(tree: etree._ElementTree, relative: str) -> str:
    for obj in tree.iterfind(".//premis:object", NS):
        if obj.findtext("premis:originalName", namespaces=NS) == f"%transferDirectory%objects/{relative}":
            return obj.findtext("premis:objectIdentifier/premis:objectIdentifierValue", namespaces=NS) or ""
    raise AssertionError(f"no PREMIS object for {relative}")


def tool_processes(parent: int, name: str) -> dict[int, tuple[str, Path]]:
    """The `name` processes `parent` started (the runner execs them straight from the worker): their command line
    and working directory, which is the run's scratch folder."""
    found: dict[int, tuple[str, Path]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            comm, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if comm == name and int(fields[1]) == parent:
                found[int(proc.name)] = ((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(),
                                         (proc / "cwd").readlink())
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return found


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # finished and moved meanwhile
        return 0


def partial_transcodes(sip: Path) -> list[Path]:
    """The clips' preservation copies being written, in the runner's folders under the SIP's staging area."""
    try:
        return [p for p in sip.glob("work/staging-01/*/.amber-run-*/clip-*.mkv") if size_of(p)]
    except FileNotFoundError:  # a run's folder removed while listed
        return []


def test_a_worker_killed_mid_normalization_makes_each_derivative_once(stack: Stack, tmp_path: Path) -> None:
    """The worker running a normalization batch is killed while it transcodes a video (after the batch's first
    files were done) and another takes over: the ingest completes with each derivative made once (one file, one
    record, one event each), and nothing of the killed runs is left anywhere, the system's temporary folder
    included."""
    source = tmp_path / "Killed mid-normalization"
    clips = source / "zz-clips"  # walked last: the clips come in the batch's second trip to the threads
    clips.mkdir(parents=True)
    # One trip's worth of stills (the worker's threads take FILES_PER_HOP originals at a time), and a few more.
    run("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=1", "-frames:v",
        str(FILES_PER_HOP + 4), str(source / "still-%04d.png"))
    for number, frequency in ((1, 300), (2, 500)):
        run("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i",
            f"sine=frequency={frequency}", "-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
            "yuv420p", "-c:a", "aac", str(clips / f"clip-{number}.mp4"))
    originals = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    with stack.client() as http:
        config = {"fields": {"normalize": "Normalize for preservation and access", "normalize_thumbnail_mode": "Yes",
                             "normalize_transfer": "Approve", "transcribe_file": "No"}}
        assert http.put("/api/v1/processing-configurations/normalize-no-ocr", json=config).status_code in (200, 201)
        started = json.loads(stack.amber("ingest", str(source), "--processing-config", "normalize-no-ocr",
                                         "--json").stdout.strip().splitlines()[-1])
        aip_id = started["aip_id"]
        sip = stack.data_dir / "processing" / "sips" / aip_id
        worker = stack.pid("worker-1")
        deadline = time.monotonic() + 240
        while True:  # the first trip's stills in the ledger, a clip's FFV1 transcode running and writing
            done = sum(len(p.read_bytes().splitlines()) for p in sip.glob("work/normalize-01/batch-*.jsonl"))
            transcodes = {pid: seen for pid, seen in tool_processes(worker, "ffmpeg").items() if "ffv1" in seen[0]}
            partial = partial_transcodes(sip)
            if done >= FILES_PER_HOP and transcodes and partial:
                break
            state = http.get(f"/api/v1/ingests/{aip_id}").json()
            assert state["status"] not in ("stored", "failed"), f"finished before the kill could be staged: {state}"
            assert time.monotonic() < deadline, state
            time.sleep(0.05)
        written = sum(map(size_of, partial))
        subprocess.run(["kill", "-9", str(worker)], check=True)
        scratch = {seen[1] for seen in transcodes.values()}
        assert all(folder.is_relative_to(sip) for folder in scratch), scratch  # never in /tmp
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in transcodes):  # the tools die with their worker
            assert time.monotonic() < deadline, "a transcode outlived its worker"
            time.sleep(0.1)
        replacement = subprocess.Popen(
            [sys.executable, "-m", "amber_cli", "worker"], env=stack.env,
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker2.log").open("wb"), start_new_session=True,
        )
        (stack.data_dir / "run" / "worker-1.pid").write_text(str(replacement.pid))
        deadline = time.monotonic() + 300
        while (state := http.get(f"/api/v1/ingests/{aip_id}").json())["status"] not in ("stored", "failed"):
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        assert state["status"] == "stored", state
        print(f"\nkilled during {len(transcodes)} FFV1 transcode(s) ({written} bytes written), "
              f"after {done} originals were in the ledger")
        report = http.get(f"/api/v1/ingests/{aip_id}/normalization", params={"limit": 1000}).json()["items"]
        rows = Counter((r["path"], r["purpose"]) for r in report)
        assert set(rows.values()) == {1} and len(rows) == 3 * len(originals), rows
        assert {r["outcome"] for r in report} == {"success"}, [(r["path"], r["purpose"], r["reason"]) for r in report
                                                               if r["outcome"] != "success"]
        dip_tar = fetch_dip(http, aip_id, tmp_path)
    assert not sip.exists()  # the working copy, with whatever the killed runs left in it, is gone

    bag_root = download_and_unpack(stack, aip_id, tmp_path) / f"Killed_mid-normalization-{aip_id}"
    bagit.Bag(str(bag_root)).validate()  # every file of the bag in its manifest, nothing else
    objects = sorted(p.relative_to(bag_root / "data" / "objects").as_posix()
                     for p in (bag_root / "data" / "objects").rglob("*") if p.is_file())
    for original in originals:
        stem = original.rsplit(".", 1)[0]
        copies = [o for o in objects if o.startswith(f"{stem}-")]
        assert len(copies) == 1, (original, copies)
    assert not [o for o in objects if ".amber-" in o or o.endswith(".part")]
    tree = etree.parse(str(bag_root / "data" / f"METS.{aip_id}.xml"))
    event_ids = [e.text for e in tree.iterfind(".//premis:event/premis:eventIdentifier/premis:eventIdentifierValue",
                                               NS)]
    assert len(event_ids) == len(set(event_ids))
    object_ids = [o.findtext("premis:objectIdentifier/premis:objectIdentifierValue", namespaces=NS)
                  for o in tree.iterfind(".//premis:object", NS)]
    assert len(object_ids) == len(set(object_ids))
    assert len(tree.findall(".//mets:fileGrp[@USE='preservation']/mets:file", NS)) == len(originals)
    for original in originals:
        uuid = original_uuid_of(tree, original)
        obj = next(o for o in tree.iterfind(".//premis:object", NS)
                   if o.findtext("premis:objectIdentifier/premis:objectIdentifierValue", namespaces=NS) == uuid)
        assert len(obj.findall("premis:relationship", NS)) == 1, original
    normalizations = [e for e in tree.iterfind(".//premis:event", NS)
                      if e.findtext("premis:eventType", namespaces=NS) == "normalization"]
    assert len(normalizations) == len(originals)
    with tarfile.open(dip_tar) as tar:
        files = [m.name for m in tar.getmembers() if m.isfile()]
    top = f"Killed_mid-normalization-{aip_id}"
    assert len([n for n in files if n.startswith(f"{top}/objects/")]) == len(originals), files
    assert len([n for n in files if n.startswith(f"{top}/thumbnails/")]) == len(originals), files
