"""Validation by the shipped registry rules with the real validators on files made here: valid and truncated JP2,
Matroska, PNG and PDF; a format without a rule gets no event."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from services.ingest.fpr.index import PolicyIndex, resolve_policy
from services.ingest.fpr.runner import CommandRunner
from services.ingest.fpr.service import shipped_policy
from services.ingest.microservices.results import Status
from services.ingest.microservices.validation import ValidationService

RULES = PolicyIndex(resolve_policy(shipped_policy()))


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _truncated(path: Path, keep: int) -> Path:
    bad = path.with_name("bad-" + path.name)
    with path.open("rb") as src:
        bad.write_bytes(src.read(keep))
    return bad


def _pdf(path: Path) -> None:
    body = b"%PDF-1.4\n"
    offsets = []
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>"]
    for number, obj in enumerate(objects, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 4\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    body += b"trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    path.write_bytes(body)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("validate")
    jp2, mkv, png, pdf = base / "i.jp2", base / "v.mkv", base / "p.png", base / "d.pdf"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", "-c:v", "libopenjpeg", str(jp2))
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "2", "-c:v", "ffv1", str(mkv))
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=8x8", "-frames:v", "1", str(png))
    _pdf(pdf)
    return {"jp2": jp2, "mkv": mkv, "png": png, "pdf": pdf}


CASES = [
    ("jp2", "x-fmt/392", ["jpylyzer"], "JP2 (JPEG 2000 part 1)", 200),
    ("mkv", "fmt/569", ["ffmpeg", "mediaconch"], "Matroska", 300),
    ("png", "fmt/11", ["pngcheck"], "Portable Network Graphics", 60),
    ("pdf", "fmt/18", ["qpdf"], "Portable Document Format", 40),
]


@pytest.mark.parametrize(("name", "puid", "programs", "label", "keep"), CASES)
def test_valid_and_broken(samples: dict[str, Path], name: str, puid: str, programs: list[str], label: str,
                          keep: int, runners: Callable[..., CommandRunner]) -> None:
    service = ValidationService(runners())
    good, counted = service.validate(samples[name], puid, RULES)
    assert good.status is Status.PASSED, good.message
    assert [e.detail.split(";")[0] for e in good.events] == [f'program="{p}"' for p in programs]
    for event in good.events:
        assert event.type == "validation" and event.outcome == "pass"
        assert "unknown" not in event.detail
        assert event.outcome_note == f'format="{label}"; result="valid"'
    assert len(counted) == len(programs) and all(c.success and c.tool_version for c in counted)

    bad, counted = service.validate(_truncated(samples[name], keep), puid, RULES)
    assert bad.status is Status.FAILED
    assert "fail" in [e.outcome for e in bad.events]
    assert bad.message and not all(c.success for c in counted)


def test_no_validator_means_no_event(samples: dict[str, Path], runners: Callable[..., CommandRunner]) -> None:
    service = ValidationService(runners())
    outcome, counted = service.validate(samples["png"], "x-fmt/111", RULES)
    assert outcome.status is Status.SKIPPED and outcome.events == () and counted == []
    assert service.validate(samples["png"], None, RULES)[0].status is Status.SKIPPED
