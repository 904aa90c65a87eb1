"""File-name sanitization on real trees: transliteration, collisions, deepest-first renames, crash re-runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from services.ingest.microservices.filenames import (
    RenameConflict,
    RenamePlan,
    apply_renames,
    plan_renames,
    sanitize_name,
)
from services.ingest.microservices.results import Status


def test_sanitize_name() -> None:
    assert sanitize_name("Ünïcödé name.txt") == "Unicode_name.txt"
    assert sanitize_name("たくさん.pdf") == "takusan.pdf"
    assert sanitize_name("a&b;c'd\"e.doc") == "a_b_c_d_e.doc"
    assert sanitize_name("keep-this_(1).tar.gz") == "keep-this_(1).tar.gz"
    assert sanitize_name("bad\udce9byte") == "bad_byte"
    assert sanitize_name("..") == "__"
    assert len(sanitize_name("é" * 300 + ".txt").encode()) <= 255
    assert sanitize_name("é" * 300 + ".txt").endswith(".txt")


def _tree(root: Path) -> None:
    (root / "dír ä").mkdir(parents=True)
    (root / "dír ä" / "sub dir").mkdir()
    (root / "dír ä" / "sub dir" / "file #1.txt").write_text("1")
    (root / "dír ä" / "ok.txt").write_text("2")
    (root / "a b.txt").write_text("3")
    (root / "a_b.txt").write_text("4")  # the sanitized name of "a b.txt" is taken
    (root / "a?b.txt").write_text("5")
    (root / "safe.txt").write_text("6")


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_plan_and_apply(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    _tree(root)
    plan = plan_renames(root)
    # Nothing on disk changes while planning.
    assert "a b.txt" in _listing(root)
    outcomes = apply_renames(plan)

    assert _listing(root) == sorted([
        "a_b.txt", "a_b_1.txt", "a_b_2.txt", "safe.txt",
        "dir_a", "dir_a/ok.txt", "dir_a/sub_dir", "dir_a/sub_dir/file__1.txt",
    ])
    assert (root / "a_b.txt").read_text() == "4"  # the existing safe name kept its file
    by_new = {o.path.relative_to(root).as_posix(): o for o in outcomes}
    # Files inside a renamed directory change path too, and say so.
    assert set(by_new) == {"a_b_1.txt", "a_b_2.txt", "dir_a", "dir_a/ok.txt", "dir_a/sub_dir",
                           "dir_a/sub_dir/file__1.txt"}
    (event,) = by_new["dir_a/sub_dir/file__1.txt"].events
    assert event.type == "filename change"
    assert event.detail.startswith('prohibited characters removed: program="change_names"; version="')
    assert event.outcome_note == (
        'Original name="%transferDirectory%objects/dír ä/sub dir/file #1.txt"; '
        'new name="%transferDirectory%objects/dir_a/sub_dir/file__1.txt"'
    )
    assert all(o.status is Status.PASSED for o in outcomes)
    # A clean tree needs nothing.
    assert plan_renames(root).ops == []


def test_apply_is_idempotent_after_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    _tree(root)
    plan = RenamePlan.from_dict(json.loads(json.dumps(plan_renames(root).to_dict())))
    # Simulate a crash after the first half of the renames (the deepest ones).
    half = plan.ops[: len(plan.ops) // 2]
    apply_renames(RenamePlan(plan.root, half, []))
    first = apply_renames(plan)
    again = apply_renames(plan)
    assert [o.path for o in first] == [o.path for o in again]
    assert "dir_a/sub_dir/file__1.txt" in _listing(root)


def test_undecodable_bytes_in_names(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    root.mkdir()
    raw = os.fsencode(root) + b"/caf\xe9.txt"
    with open(raw, "wb") as handle:
        handle.write(b"x")
    plan = RenamePlan.from_dict(json.loads(json.dumps(plan_renames(root).to_dict())))
    (outcome,) = apply_renames(plan)
    assert outcome.path.name == "caf_.txt"
    assert 'Original name="%transferDirectory%objects/caf\\xe9.txt"' in outcome.events[0].outcome_note


def test_conflict_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    root.mkdir()
    (root / "x y").write_text("1")
    plan = plan_renames(root)
    (root / "x_y").write_text("intruder")
    with pytest.raises(RenameConflict, match="exists"):
        apply_renames(plan)
    assert (root / "x_y").read_text() == "intruder"
