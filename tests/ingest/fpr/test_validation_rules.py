"""Validation that deserves the name: for every format family, a valid file made here with the real tools passes
the shipped validation rules, and a damaged copy (truncated, or bytes cut from the middle) fails with the reason in
its event."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pygfried
import pytest

from services.ingest.fpr.index import PolicyIndex, resolve_policy
from services.ingest.fpr.runner import CommandRunner
from services.ingest.fpr.service import shipped_policy
from services.ingest.microservices.results import Status
from services.ingest.microservices.validation import ValidationService
from tests.ingest.fpr.samples import cut_middle, make, truncated

FAMILIES = {
    "TIFF": "sample.tif", "JPEG": "sample.jpg", "PNG": "sample.png", "GIF": "sample.gif", "BMP": "sample.bmp",
    "JP2": "sample.jp2", "PDF": "sample.pdf", "WAV": "sample.wav", "AIFF": "sample.aif", "MP3": "sample.mp3",
    "FLAC": "sample.flac", "Ogg Vorbis": "sample.ogg", "MP4": "sample.mp4", "AVI": "sample.avi",
    "QuickTime": "sample.mov", "Matroska/FFV1": "sample.mkv", "WARC": "sample.warc", "XML": "sample.xml",
    "ZIP": "sample.zip", "7z": "sample.7z", "DOCX": "sample.docx", "ODT": "sample.odt",
}


@pytest.fixture(scope="module")
def rules() -> PolicyIndex:
    return PolicyIndex(resolve_policy(shipped_policy()))


@pytest.fixture(scope="module")
def service() -> Iterator[ValidationService]:
    made = ValidationService()
    yield made
    made.close()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_valid_file_passes_and_a_damaged_one_fails_with_the_reason(
    family: str, tmp_path: Path, rules: PolicyIndex, service: ValidationService
) -> None:
    good = make(tmp_path, FAMILIES[family])
    puid = str(pygfried.identify(str(good)))
    assert rules.rules_for("validation", puid), f"no validation rule for {family} ({puid})"
    outcome, _ = service.validate(good, puid, rules)
    assert outcome.status is Status.PASSED and {e.outcome for e in outcome.events} == {"pass"}, outcome.message

    for damage in (truncated, cut_middle):
        damaged = damage(good, tmp_path / f"{damage.__name__}-{good.name}")
        # A damaged file is validated as what it claims to be (the PUID of its intact original).
        outcome, counted = service.validate(damaged, puid, rules)
        failed = [e for e in outcome.events if e.outcome == "fail"]
        assert outcome.status is Status.FAILED and failed, f"{damage.__name__} {family}: {outcome}"
        for event in failed:
            reason = re.fullmatch(r'format="[^"]+"; result="(.+)"', event.outcome_note, re.DOTALL)
            assert reason and reason.group(1) not in ("", "valid"), event.outcome_note
            assert event.detail.startswith('program="')
        assert not all(c.success for c in counted)


def test_a_pdf_whose_cross_reference_table_qpdf_must_rebuild_fails(tmp_path: Path, rules: PolicyIndex,
                                                                   service: ValidationService) -> None:
    """qpdf repairs a broken xref table and exits 3 ("warnings"); that is a damaged file, not a valid one."""
    good = make(tmp_path, "page.pdf")
    data = good.read_bytes()
    offset = re.search(rb"startxref\s+(\d+)", data)
    assert offset is not None
    broken = tmp_path / "broken-xref.pdf"
    broken.write_bytes(data[:offset.start(1)] + str(int(offset.group(1)) - 7).encode() + data[offset.end(1):])
    outcome, _ = service.validate(broken, "fmt/276", rules)
    [event] = outcome.events
    assert event.outcome == "fail" and outcome.status is Status.FAILED
    assert "xref" in event.outcome_note or "cross-reference" in event.outcome_note


def test_mediaconch_runs_side_by_side_each_give_a_verdict(tmp_path: Path, rules: PolicyIndex,
                                                          runners: Callable[..., CommandRunner]) -> None:
    """MediaConch keeps a report database under $HOME; runs sharing one (two FFV1 copies checked at once on a
    worker's threads) hang or print "!" without a verdict. The shipped command gives each run its own."""
    good = make(tmp_path, FAMILIES["Matroska/FFV1"])
    puid = str(pygfried.identify(str(good)))
    (rule,) = [r for r in rules.rules_for("validation", puid) if "mediaconch" in r.command_spec.argv]
    # Bounded here: a hung run must fail this test, not stall it for the shipped six hours.
    command = rule.command_spec.model_copy(update={"timeout_seconds": 30})
    runner = runners()
    copies = []
    for number in range(12):  # new files: a file MediaConch has seen is answered from its database
        copy = tmp_path / f"copy-{number}.mkv"
        copy.write_bytes(good.read_bytes())
        copies.append(copy)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda path: runner.run(command, path), copies))
    assert [(r.verdict, r.reason) for r in results] == [("pass", "valid")] * len(copies), \
        [(r.verdict, r.reason, r.stdout) for r in results]
