"""The structure report on a real tree, byte-compared with what `tree` draws."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from services.ingest.microservices.structure_report import write_structure_report


def _tree(root: Path) -> None:
    (root / "b dir" / "deep" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "b dir" / "x.bin").write_text("x")
    (root / "b dir" / "deep" / "deeper" / "y").write_text("y")
    (root / "empty").mkdir()
    (root / "z-link").symlink_to("a.txt")
    with open(os.fsencode(root) + b"/caf\xe9", "wb") as handle:
        handle.write(b"1")


def test_report(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    _tree(root)
    report = tmp_path / "metadata" / "directory_tree.txt"
    summary = write_structure_report(root, report)
    assert (summary.directories, summary.files) == (4, 5)
    text = report.read_bytes().decode("utf-8", "surrogateescape")
    bar = "│\u00a0\u00a0 "  # tree pads the bar with no-break spaces
    assert text.splitlines()[:5] == ["objects", "├── a.txt", "├── b dir", f"{bar}├── deep", f"{bar}{bar}└── deeper"]
    assert "└── z-link -> a.txt" in text
    assert b"caf\xe9" in report.read_bytes()
    assert text.endswith("\n5 directories, 5 files\n")  # tree 2.x counts the root too
    assert not list(report.parent.glob(".*partial"))


@pytest.mark.skipif(shutil.which("tree") is None, reason="the `tree` binary is only a cross-check")
def test_same_as_tree(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    _tree(root)
    report = tmp_path / "r.txt"
    write_structure_report(root, report)
    expected = subprocess.run(["tree", "-N", "--charset=utf-8", "objects"], cwd=tmp_path, capture_output=True,
                              env={"LC_ALL": "C.UTF-8"}, check=True).stdout
    assert report.read_bytes() == expected
