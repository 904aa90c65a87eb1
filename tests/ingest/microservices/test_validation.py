"""Validation with the real validators on files made here: valid and truncated JP2, Matroska, PNG and PDF."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.ingest.microservices.results import Status
from services.ingest.microservices.validation import ValidationService


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
    ("jp2", "x-fmt/392", "jpylyzer", "JPEG 2000", 200),
    ("mkv", "fmt/569", "MediaConch", "Matroska", 300),
    ("png", "fmt/11", "pngcheck", "PNG", 60),
    ("pdf", "fmt/18", "qpdf", "PDF", 40),
]


@pytest.mark.parametrize(("name", "puid", "program", "label", "keep"), CASES)
def test_valid_and_broken(samples: dict[str, Path], name: str, puid: str, program: str, label: str,
                          keep: int) -> None:
    service = ValidationService()
    good = service.validate(samples[name], puid)
    assert good.status is Status.PASSED, good.message
    (event,) = good.events
    assert event.type == "validation" and event.outcome == "pass"
    assert event.detail.startswith(f'program="{program}"; version="')
    assert "unknown" not in event.detail
    assert event.outcome_note.startswith(f'format="{label}"; result="')

    bad = service.validate(_truncated(samples[name], keep), puid)
    assert bad.status is Status.FAILED
    assert bad.events[0].outcome == "fail"
    assert bad.message


def test_no_validator_means_no_event(samples: dict[str, Path]) -> None:
    outcome = ValidationService().validate(samples["png"], "fmt/43")
    assert outcome.status is Status.SKIPPED and outcome.events == ()
    assert ValidationService().validate(samples["png"], None).status is Status.SKIPPED
