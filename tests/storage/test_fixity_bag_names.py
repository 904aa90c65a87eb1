"""Manifest paths are read as the bag's declared version writes them: `%` literal before BagIt 1.0, `%25` from 1.0
on (issue 10: Amber's 0.97 AIPs name `100%done.txt` literally, as bagit-python does)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from services.storage.fixity.bag import validate_package
from services.storage.packages.archive import PackageFormat
from services.transfer.transfers.bagit import validate_bag

NAMES = ["100%done.txt", "50%25 literal.txt", "#tag and space .txt"]


def make_bag(root: Path, version: str) -> Path:
    encode = (lambda p: p.replace("%", "%25")) if version == "1.0" else (lambda p: p)
    lines = []
    for name in NAMES:
        path = root / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
        lines.append(f"{hashlib.sha256(name.encode()).hexdigest()}  {encode('data/' + name)}\n")
    (root / "bagit.txt").write_text(f"BagIt-Version: {version}\nTag-File-Character-Encoding: UTF-8\n")
    (root / "manifest-sha256.txt").write_text("".join(lines))
    return root


@pytest.mark.parametrize("version", ["0.97", "1.0"])
def test_storage_fixity_reads_percent_signs_by_the_declared_version(tmp_path: Path, version: str) -> None:
    bag = make_bag(tmp_path / "bag", version)
    check = validate_package(PackageFormat.folder, bag, "7z", None)
    assert check.ok, (check.missing, check.untracked, check.errors)


@pytest.mark.parametrize("version", ["0.97", "1.0"])
def test_intake_reads_percent_signs_by_the_declared_version(tmp_path: Path, version: str) -> None:
    report = validate_bag(make_bag(tmp_path / "bag", version))
    assert report.valid, report.errors
