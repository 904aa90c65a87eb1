"""Normalizing one original by the shipped rules on the real tools: where each output goes, the fallbacks that keep
the DIP whole when a rule fails, manual derivatives, and what a rejection removes."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from services.ingest.fpr.index import PolicyIndex, resolve_policy
from services.ingest.fpr.runner import CommandRunner
from services.ingest.fpr.service import shipped_policy
from services.ingest.microservices.normalization import Original, Places, manual_files, normalize_original
from services.ingest.processing.params import Wanted


@pytest.fixture(scope="module")
def rules() -> PolicyIndex:
    policy = shipped_policy()
    return PolicyIndex(resolve_policy(policy), {f.puid: f.group for f in policy.formats})


def places(base: Path) -> Places:
    data = base / "bag" / "data"
    (data / "objects").mkdir(parents=True)
    return Places(data, base / "DIP", base / "work" / "staging")


def test_an_image_gets_every_derivative_where_archivematica_puts_it(tmp_path: Path, rules: PolicyIndex,
                                                                    runners: Callable[..., CommandRunner]) -> None:
    where = places(tmp_path)
    subprocess.run(["vips", "text", str(where.data / "objects" / "page.png"), "Ledger of the archive",
                    "--dpi", "300"], check=True)
    original = Original("objects/page.png", uuid.uuid4(), "fmt/13")
    wanted = Wanted(preservation=True, access=True, thumbnails=True, transcription=True)
    done = normalize_original(runners(), rules, original, wanted, where)
    outcomes = {o.purpose: o for o in done.outcomes}
    assert {p: o.outcome for p, o in outcomes.items()} == {
        "preservation": "success", "access": "success", "thumbnail": "success", "transcription": "success"}
    preserved = outcomes["preservation"]
    assert preserved.output == f"objects/page-{preserved.output_uuid}.tif"
    assert preserved.output_puid in ("fmt/353", "fmt/155")
    assert outcomes["access"].output == f"DIP/objects/{original.uuid}-page.jpg"
    assert outcomes["thumbnail"].output == f"thumbnails/{original.uuid}.jpg"
    assert outcomes["transcription"].output == f"objects/metadata/OCRfiles/page-{original.uuid}.txt"
    assert "ledger" in (where.data / outcomes["transcription"].output).read_text().lower()
    for relative in done.written:
        assert (tmp_path / relative).is_file()
    assert [m["purpose"] for m in done.made].count("preservation") == 1
    assert not any(where.staging.rglob("*.*"))  # nothing half-made is left behind
    # A second run with the same attempt makes the very same names (a retried batch overwrites, never adds).
    again = normalize_original(runners(), rules, original, wanted, where)
    assert sorted(again.written) == sorted(done.written)


def test_a_broken_file_fails_preservation_and_falls_back_for_the_dip(tmp_path: Path, rules: PolicyIndex,
                                                                     runners: Callable[..., CommandRunner]) -> None:
    where = places(tmp_path)
    subprocess.run(["vips", "black", str(tmp_path / "whole.tif"), "40", "30"], check=True)
    (where.data / "objects" / "cut.tif").write_bytes((tmp_path / "whole.tif").read_bytes()[:300])
    original = Original("objects/cut.tif", uuid.uuid4(), "fmt/353")
    done = normalize_original(runners(), rules, original,
                              Wanted(preservation=True, access=True, thumbnails=True), where)
    outcomes = {o.purpose: o for o in done.outcomes}
    assert outcomes["preservation"].outcome == "failed" and outcomes["preservation"].reason
    assert [f["purpose"] for f in done.failed] == ["preservation"]
    assert outcomes["access"].outcome == "success" and outcomes["access"].fallback
    assert outcomes["access"].command == "copy-original" and "vips-to-jpeg-access failed" in outcomes["access"].reason
    assert outcomes["thumbnail"].command == "icon-image"
    # Without default icons, a failed thumbnail stays failed.
    plain = normalize_original(runners(), rules, original,
                               Wanted(thumbnails=True, default_thumbnails=False, attempt=2), where)
    assert [(o.purpose, o.outcome) for o in plain.outcomes] == [("thumbnail", "failed")]


def test_manual_derivatives_take_the_place_of_the_rules(tmp_path: Path, rules: PolicyIndex,
                                                        runners: Callable[..., CommandRunner]) -> None:
    where = places(tmp_path)
    (where.data / "objects" / "talk.wav").write_bytes(b"RIFF")
    manual = where.data / "objects" / "manualNormalization" / "access"
    manual.mkdir(parents=True)
    (manual / "talk.mp3").write_bytes(b"ID3 made by hand")
    found = manual_files(where.data)
    assert found == {("access", "talk"): "objects/manualNormalization/access/talk.mp3"}
    manual_uuid = uuid.uuid4()
    original = Original("objects/talk.wav", uuid.uuid4(), "fmt/141",
                        {"access": (found[("access", "talk")], manual_uuid)})
    done = normalize_original(runners(), rules, original, Wanted(preservation=True, access=True, rules=False),
                              where)
    outcomes = {o.purpose: o for o in done.outcomes}
    assert outcomes["access"].outcome == "manual" and outcomes["access"].output_uuid == manual_uuid
    assert (where.dip / "objects" / f"{original.uuid}-talk.mp3").read_bytes() == b"ID3 made by hand"
    assert outcomes["preservation"].outcome == "no rule"  # "Normalize manually": no rule runs


def test_service_files_are_the_source_of_access_copies(tmp_path: Path, rules: PolicyIndex,
                                                       runners: Callable[..., CommandRunner]) -> None:
    where = places(tmp_path)
    (where.data / "objects" / "map.dat").write_bytes(b"a format nobody knows")
    service = where.data / "objects" / "service"
    service.mkdir()
    subprocess.run(["vips", "black", str(service / "map.png"), "20", "10"], check=True)
    found = manual_files(where.data)
    assert found == {("service", "map"): "objects/service/map.png"}
    original = Original("objects/map.dat", uuid.uuid4(), None, {"service": (found[("service", "map")], uuid.uuid4())})
    done = normalize_original(runners(), rules, original, Wanted(access=True, service_files=True), where)
    [access] = done.outcomes
    assert (access.outcome, access.command, access.output) == (
        "success", "vips-to-jpeg-access", f"DIP/objects/{original.uuid}-map.jpg")
    assert [m["purpose"] for m in done.made] == ["service"]


def test_a_ledger_cut_by_a_crash_redoes_only_the_cut_line(tmp_path: Path) -> None:
    """What a retried batch skips: every complete line; the last line of a file redone counts."""
    from services.ingest.processing.normalizing import _done_paths, _ledger_lines

    ledger = tmp_path / "batch-000000.jsonl"
    ledger.write_text('{"p": "objects/a.tif", "n": 1}\n{"p": "objects/b.tif", "n": 1}\n{"p": "objects/a.tif", "n": 2}'
                      '\n{"p": "objects/c.t')
    assert _done_paths(ledger) == {"objects/a.tif", "objects/b.tif"}
    assert ledger.read_text().endswith('"n": 2}\n')  # the cut line is gone: what is appended next stays whole
    assert {line["p"]: line["n"] for line in _ledger_lines(ledger)} == {"objects/a.tif": 2, "objects/b.tif": 1}
    assert _done_paths(tmp_path / "absent.jsonl") == set()


def test_a_tiff_libvips_cannot_read_is_normalized_by_the_next_rule(tmp_path: Path, rules: PolicyIndex,
                                                                   runners: Callable[..., CommandRunner]) -> None:
    """FFmpeg writes YCbCr TIFFs with chroma subsampling (as scanners and cameras do), which libvips refuses: the
    format's next rules by priority (libtiff's tiff2rgba, FFmpeg) make the derivatives, and the report says why."""
    where = places(tmp_path)
    source = where.data / "objects" / "scan.tif"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=80x60", "-frames:v", "1",
                    "-pix_fmt", "yuv420p", str(source)], check=True)
    assert subprocess.run(["vips", "copy", str(source), str(tmp_path / "x.v")], capture_output=True).returncode != 0
    original = Original("objects/scan.tif", uuid.uuid4(), "fmt/353")
    done = normalize_original(runners(), rules, original,
                              Wanted(preservation=True, access=True, thumbnails=True), where)
    outcomes = {o.purpose: o for o in done.outcomes}
    assert {p: (o.outcome, o.command, o.fallback) for p, o in outcomes.items()} == {
        "preservation": ("success", "tiff2rgba-to-tiff", False),
        "access": ("success", "ffmpeg-to-jpeg-access", False),
        "thumbnail": ("success", "ffmpeg-frame-thumbnail", False),
    }
    assert outcomes["preservation"].reason.startswith("vips-to-tiff failed (") and outcomes["preservation"].output_puid
    assert done.failed == []  # the first rule's failure is in the report and its counter, not an event
    assert [(c.success) for c in done.counted].count(False) == 3
    preserved = where.data / str(outcomes["preservation"].output)
    info = subprocess.run(["tiffinfo", str(preserved)], capture_output=True, text=True).stdout
    assert "RGB color" in info and "Compression Scheme: None" in info
