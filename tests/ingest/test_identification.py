"""Siegfried over a group of files answers as it does file by file, whatever the files are."""

from __future__ import annotations

from pathlib import Path

import pygfried
import pytest

from services.ingest.processing.identification import EMPTY, identify, identify_many

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _files(tmp_path: Path) -> list[tuple[Path, int]]:
    made = {"a.txt": b"plain words\n", "b.png": PNG, "empty.bin": b"", "c.xml": b"<?xml version='1.0'?><r/>",
            "d.dat": bytes(range(256))}
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    files = [(tmp_path / name, len(data)) for name, data in made.items()]
    return [*files, (tmp_path / "gone.txt", 4)]  # a file that went away: Siegfried reports an error for it


def test_a_group_gets_the_answers_of_one_file_at_a_time(tmp_path: Path) -> None:
    files = _files(tmp_path)
    answers = identify_many(files)
    assert answers == [identify(path, size) for path, size in files]
    assert answers[1].puid == "fmt/11" and answers[2] == EMPTY


def test_a_group_siegfried_refuses_is_identified_file_by_file(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files(tmp_path)
    expected = [identify(path, size) for path, size in files]

    def refuse(paths: object, *, workers: int = 1) -> object:
        raise pygfried.GoError("refused")

    monkeypatch.setattr(pygfried, "identify_many", refuse)
    assert identify_many(files) == expected


def test_no_files_no_call() -> None:
    assert identify_many([]) == []
