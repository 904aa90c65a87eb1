"""Siegfried over a group of files answers as it does file by file, whatever the files are."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from services.ingest.processing.identification import EMPTY, SIEGFRIED, identify, identify_many
from services.ingest.processing.siegfried import SiegfriedError, SiegfriedProcess

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

    def refuse(names: list[str]) -> object:
        raise SiegfriedError("refused")

    monkeypatch.setattr(SIEGFRIED, "identify_many", refuse)
    assert identify_many(files) == expected


def test_no_files_no_call() -> None:
    assert identify_many([]) == []


def zeros(path: Path, size: int) -> Path:
    """A sparse file of zeros, which Siegfried reads to its end (about 4 ms per MB here)."""
    with path.open("wb") as made:
        made.truncate(size)
    return path


def test_while_siegfried_reads_a_large_file_the_other_threads_run_on(tmp_path: Path) -> None:
    # pygfried holds the GIL for a whole call: in the worker, a file it read to the end froze the event loop
    # (a minute for a 10 GB file), so no heartbeat went out and every attempt of the batch timed out.
    big = zeros(tmp_path / "zeros.bin", 256 * 1024 * 1024)
    found: list[object] = []
    reading = threading.Thread(target=lambda: found.append(identify(big, 256 * 1024 * 1024)))
    started = last = time.perf_counter()
    longest_gap = 0.0
    reading.start()
    while reading.is_alive():
        time.sleep(0.001)
        now = time.perf_counter()
        longest_gap, last = max(longest_gap, now - last), now
    took = time.perf_counter() - started
    assert found and found[0].puid == "fmt/208"  # type: ignore[attr-defined]
    assert took > 0.4, f"Siegfried took only {took:.2f} s: too little to tell"
    assert longest_gap < took / 2, f"this thread stood still for {longest_gap:.2f} s of {took:.2f} s"


def test_a_call_longer_than_the_limit_is_ended_and_the_next_one_answered(tmp_path: Path) -> None:
    big = zeros(tmp_path / "zeros.bin", 256 * 1024 * 1024)
    small = tmp_path / "a.png"
    small.write_bytes(PNG)
    siegfried = SiegfriedProcess(timeout=0.1)
    try:
        with pytest.raises(SiegfriedError, match=r"Siegfried gave no answer in 0\.1 s"):
            siegfried.identify(str(big))
        siegfried.timeout = 60
        answer = siegfried.identify(str(small))
        assert answer["files"][0]["matches"][0]["id"] == "fmt/11"
    finally:
        siegfried.close()
