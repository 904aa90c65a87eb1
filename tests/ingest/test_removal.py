"""remove_tree: a SIP or transfer folder goes whole (nested folders, hard links, empty folders), a link out of it is
removed without what it points at, a missing folder is no error, and a link given as the folder is left alone."""

from __future__ import annotations

import os
from pathlib import Path

from services.ingest.processing.removal import remove_tree


def test_a_folder_goes_whole_and_nothing_outside_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "kept").mkdir(parents=True)
    (outside / "kept" / "precious.txt").write_text("keep me")
    sip = tmp_path / "sip"
    for folder in range(30):
        box = sip / "objects" / f"box-{folder:02d}" / "inner"
        box.mkdir(parents=True)
        for index in range(20):
            (box / f"item-{index}.txt").write_text(f"{folder}/{index}")
    (sip / "objects" / "empty" / "deeper").mkdir(parents=True)
    os.link(sip / "objects" / "box-00" / "inner" / "item-0.txt", outside / "linked.txt")
    (sip / "to-outside").symlink_to(outside / "kept", target_is_directory=True)
    (sip / "file-link").symlink_to(outside / "kept" / "precious.txt")
    remove_tree(sip, threads=4)
    assert not sip.exists()
    assert (outside / "kept" / "precious.txt").read_text() == "keep me"
    assert (outside / "linked.txt").read_text() == "0/0"
    remove_tree(sip)  # already gone: nothing to do, no error
    link = tmp_path / "link-to-outside"
    link.symlink_to(outside, target_is_directory=True)
    remove_tree(link)  # as shutil.rmtree(ignore_errors=True): a link itself is not a folder to empty
    assert link.is_symlink() and (outside / "kept" / "precious.txt").exists()
