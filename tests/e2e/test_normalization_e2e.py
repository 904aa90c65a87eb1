"""Preservation actions through the gateway: a transfer made by the real tools, ingested with the built-in
`normalize` configuration, becomes an AIP with preservation copies (identified as their rules' target formats,
linked both ways in a schema-valid METS that metsrw reads), OCR text, a normalization report naming the failure,
and a stored DIP with an access copy and a thumbnail for every original."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import bagit
import metsrw
import pytest
from lxml import etree

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
        dips = http.get("/api/v1/packages", params={"package_type": "dip", "related_to": aip_id}).json()["items"]
        assert len(dips) == 1 and dips[0]["related_package_uuid"] == aip_id
        dip_tar = tmp_path / "dip.tar"
        with http.stream("GET", f"/api/v1/packages/{dips[0]['uuid']}/download") as response:
            assert response.status_code == 200
            with dip_tar.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)

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
    document = metsrw.METSDocument.fromfile(str(mets_path))
    by_uuid = {entry.file_uuid: entry for entry in document.all_files() if entry.file_uuid}
    for file in preservation:
        entry = by_uuid[file.get("ID").removeprefix("file-")]
        assert entry.use == "preservation" and entry.group_id() == file.get("GROUPID")
        assert entry.derived_from is not None and entry.derived_from.use == "original"
        assert f"Group-{entry.derived_from.file_uuid}" == file.get("GROUPID")
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
