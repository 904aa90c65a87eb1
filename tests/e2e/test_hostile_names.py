"""Issue 10's acceptance: a transfer holding `%`, `#`, spaces, an NFC/NFD pair of one name and 255-byte names in
objects/, metadata/, logs/ (and, sent as a bag, in the bag's own tag files) becomes a stored AIP that bagit-python
validates in full, with every byte that was sent present in it."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path

import bagit
import pytest

from services.metadata.mets.validation import validate_mets
from tests.e2e.conftest import Stack
from tests.e2e.test_first_path import download_and_unpack

pytestmark = pytest.mark.e2e

NAMES = [
    "100%done.txt",
    "50%25 percent twenty-five.txt",
    "#hash #tag.txt",
    "two  spaces and a trailing one .txt ",
    unicodedata.normalize("NFC", "café.txt"),
    unicodedata.normalize("NFD", "café.txt"),
    "a" * 251 + ".txt",  # 255 bytes
    "é" * 125 + "x.txt",  # 255 bytes, multibyte
    "e\u0301" * 83 + "ax.txt",  # 255 bytes in NFD, with its NFC twin below
    unicodedata.normalize("NFC", "e\u0301" * 83 + "ax.txt"),
    "dir %#/inner name %.txt",
]


def write_names(folder: Path, label: str) -> None:
    for name in NAMES:
        assert len(name.rsplit("/", 1)[-1].encode()) <= 255
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{label}: {name!r}\n".encode())


def sent_digests(root: Path) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def plain_transfer(root: Path) -> Path:
    for folder in ("objects", "objects/deeper", "metadata", "logs"):
        write_names(root / folder, folder)
    return root


def bag_transfer(root: Path) -> Path:
    """A BagIt 1.0 bag (`%` written %25, as RFC 8493 says) with such names in its payload and tag files."""
    write_names(root / "data", "payload")
    write_names(root / "data" / "metadata", "payload metadata")
    write_names(root, "tag file")
    write_names(root / "tag folder %#", "tag folder")

    def line(path: Path) -> str:
        relative = path.relative_to(root).as_posix().replace("%", "%25")
        return f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {relative}\n"

    payload = sorted(p for p in (root / "data").rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in payload)
    tags = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_relative_to(root / "data"))
    (root / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (root / "bag-info.txt").write_text(f"Payload-Oxum: {size}.{len(payload)}\nSource-Organization: 100% #1\n")
    (root / "manifest-sha256.txt").write_text("".join(line(p) for p in payload))
    (root / "tagmanifest-sha256.txt").write_text("".join(line(root / name) for name in (
        "bagit.txt", "bag-info.txt", "manifest-sha256.txt")) + "".join(line(p) for p in tags))
    return root


@pytest.mark.parametrize("kind", ["folder", "bag"])
def test_hostile_names_become_a_valid_stored_aip(stack: Stack, tmp_path: Path, kind: str) -> None:
    source = tmp_path / f"names {kind} %#"
    (plain_transfer if kind == "folder" else bag_transfer)(source)
    sent = sent_digests(source)
    result = stack.amber("ingest", str(source), "--wait", "--json", check=False)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, result.stderr[-3000:]
    summary = json.loads(lines[-1])
    assert summary["status"] == "stored", summary

    unpacked = download_and_unpack(stack, summary["aip_id"], tmp_path)
    (top,) = list(unpacked.iterdir())
    bagit.Bag(str(top)).validate()  # in full: every file hashed against the manifests
    assert sent <= sent_digests(top / "data"), "bytes sent are missing from the AIP"
    assert validate_mets(top / "data" / f"METS.{summary['aip_id']}.xml") == []
    logs = next((top / "data" / "logs" / "transfers").iterdir()) / "logs"
    kept = logs / "BagIt" if kind == "bag" else logs
    assert (kept / "100%done.txt").is_file() and (kept / "#hash #tag.txt").is_file()
