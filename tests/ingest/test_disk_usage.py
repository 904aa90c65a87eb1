"""`tree_size` over live trees: what goes while it is measured counts as empty, never as an error."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from services.ingest.disk_usage import tree_size


def test_a_folder_removed_while_the_tree_is_measured_counts_as_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race a LibreOffice conversion made in CI: its profile folder was listed, then gone when read.
    (tmp_path / "profile" / "cache").mkdir(parents=True)
    (tmp_path / "profile" / "cache" / "entry").write_bytes(b"x" * 5)
    (tmp_path / "document.pdf").write_bytes(b"y" * 10)
    scandir = os.scandir

    def the_tool_removes_it_first(path: Any) -> Any:
        if isinstance(path, str | os.PathLike) and Path(path).name == "cache":  # rmtree itself passes fds
            shutil.rmtree(path)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", the_tool_removes_it_first)
    assert tree_size(tmp_path) == 10


def test_regular_files_only_and_links_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"z" * 1000)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a").write_bytes(b"a" * 3)
    (tree / "sub" / "b").write_bytes(b"b" * 4)
    (tree / "link").symlink_to(outside)
    (tree / "sub" / "folder-link").symlink_to(tmp_path)
    assert tree_size(tree) == 7
    assert tree_size(tree / "a", tree / "sub") == 7
    assert tree_size(tree / "link") == 0
    assert tree_size(tmp_path / "gone") == 0
