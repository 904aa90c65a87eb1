"""Amber's shipped rules on the real tools: every default preservation, access and thumbnail rule, run on a tiny
file made here, makes a file Siegfried identifies as the rule's target and that passes its validators."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pygfried
import pytest

from clients.ingest.fpr import ResolvedRule
from services.ingest.fpr.index import PolicyIndex, group_puid, resolve_policy
from services.ingest.fpr.placeholders import unknown_placeholders
from services.ingest.fpr.runner import CommandRunner
from services.ingest.fpr.service import shipped_policy
from tests.ingest.fpr.samples import make

SAMPLES = [
    "sample.tif", "sample.jpg", "sample.png", "sample.gif", "sample.bmp", "sample.jp2", "sample.dng", "sample.pdf",
    "sample.wav", "sample.mp3", "sample.flac", "sample.aif", "sample.ogg", "sample.mp4", "sample.avi", "sample.mov",
    "sample.mkv", "sample.docx", "sample.doc", "sample.odt", "sample.xlsx", "sample.ods", "sample.pptx",
    "sample.odp",
]
NORMALIZING = ("preservation", "access", "thumbnail")
# What each sample must get: the purposes with a default rule for its format, once per rule (a TIFF has a second
# rule of each purpose, tried when libvips cannot read it).
EXPECTED = {
    "sample.tif": ("preservation", "preservation", "access", "access", "thumbnail", "thumbnail"),
    "sample.jpg": NORMALIZING, "sample.png": NORMALIZING, "sample.gif": NORMALIZING,
    "sample.bmp": NORMALIZING, "sample.jp2": NORMALIZING, "sample.dng": ("preservation",),
    "sample.pdf": ("preservation", "thumbnail"), "sample.wav": ("access",), "sample.mp3": ("preservation", "access"),
    "sample.flac": ("access",), "sample.aif": ("preservation", "access"), "sample.ogg": ("preservation", "access"),
    "sample.mp4": NORMALIZING, "sample.avi": NORMALIZING, "sample.mov": NORMALIZING,
    "sample.mkv": ("access", "thumbnail"), "sample.docx": ("preservation", "access"),
    "sample.doc": ("preservation", "access"), "sample.odt": ("access",), "sample.xlsx": ("preservation", "access"),
    "sample.ods": ("access",), "sample.pptx": ("preservation", "access"), "sample.odp": ("access",),
}


@pytest.fixture(scope="module")
def index() -> PolicyIndex:
    return PolicyIndex(resolve_policy(shipped_policy()))


@pytest.fixture(scope="module")
def runner() -> Iterator[CommandRunner]:
    made = CommandRunner()
    yield made
    made.close()


def validate_output(index: PolicyIndex, runner: CommandRunner, path: Path, puid: str) -> None:
    for rule in index.rules_for("validation", puid):
        verdict = runner.run(rule.command_spec, path)
        assert verdict.verdict == "pass", f"{path.name} ({puid}) fails {rule.command}: {verdict.reason}"


def run_rule(runner: CommandRunner, rule: ResolvedRule, source: Path, out: Path) -> Path:
    result = runner.run(rule.command_spec, source, out, basename=f"{source.stem}-{rule.purpose}")
    assert result.success, f"{rule.command} on {source.name}: {result.reason}"
    assert result.output is not None and result.output.stat().st_size > 0
    identified = pygfried.identify(str(result.output))
    spec = rule.command_spec
    assert not spec.output_puids or identified in spec.output_puids, f"{rule.command} made {identified}"
    assert result.event_detail.startswith(f'program="{spec.tool}"; version="') and result.tool_version != "unknown"
    return result.output


@pytest.mark.parametrize("name", SAMPLES)
def test_each_default_rule_makes_its_target_format(name: str, tmp_path: Path, index: PolicyIndex,
                                                   runner: CommandRunner) -> None:
    source = make(tmp_path / "in", name)
    puid = pygfried.identify(str(source))
    out = tmp_path / "out"
    out.mkdir()
    ran = []
    for purpose in NORMALIZING:
        for rule in index.rules_for(purpose, puid):
            output = run_rule(runner, rule, source, out)
            validate_output(index, runner, output, str(pygfried.identify(str(output))))
            ran.append(purpose)
    assert tuple(ran) == EXPECTED[name], f"{name} is {puid}"


def test_pdf_preservation_is_pdfa_2b_with_an_output_intent(tmp_path: Path, index: PolicyIndex,
                                                           runner: CommandRunner) -> None:
    source = make(tmp_path / "in", "page.pdf")
    [rule] = index.rules_for("preservation", "fmt/276")
    output = run_rule(runner, rule, source, tmp_path)
    assert pygfried.identify(str(output)) == "fmt/477"
    xmp = subprocess.run(["exiftool", "-j", "-XMP-pdfaid:all", str(output)], capture_output=True, check=True)
    assert json.loads(xmp.stdout)[0]["Part"] == 2 and json.loads(xmp.stdout)[0]["Conformance"] == "B"
    document = subprocess.run(["qpdf", "--json", "--json-key=qpdf", str(output)], capture_output=True, check=True)
    assert '"/OutputIntents"' in document.stdout.decode() and '"/S": "/GTS_PDFA1"' in document.stdout.decode()


def test_the_disabled_jpeg_2000_alternative_is_lossless_and_passes_jpylyzer(tmp_path: Path,
                                                                            runner: CommandRunner) -> None:
    rules = resolve_policy(shipped_policy())
    [rule] = [r for r in rules if r.command == "vips-to-jp2-lossless" and r.puid == "fmt/353"]
    assert not rule.enabled  # TIFF stays Archivematica's preservation format unless an administrator chooses
    source = make(tmp_path / "in", "picture.tif")
    output = run_rule(runner, rule, source, tmp_path)
    assert pygfried.identify(str(output)) == "x-fmt/392"
    subprocess.run(["vips", "subtract", str(source), str(output), f"{tmp_path}/d.v"], check=True)
    subprocess.run(["vips", "abs", f"{tmp_path}/d.v", f"{tmp_path}/a.v"], check=True)
    difference = subprocess.run(["vips", "max", f"{tmp_path}/a.v"], capture_output=True, check=True)
    assert float(difference.stdout) == 0  # every pixel as it was


def test_fallbacks_copy_the_original_and_give_an_icon_per_group(tmp_path: Path, index: PolicyIndex,
                                                                runner: CommandRunner) -> None:
    source = make(tmp_path / "in", "data.warc")
    [copy] = index.rules_for("default_access", "amber/any")
    (tmp_path / "out").mkdir()
    copied = runner.run(copy.command_spec, source, tmp_path / "out", basename="0000-data")
    assert copied.success and copied.output == tmp_path / "out" / "0000-data.warc"
    assert copied.output.read_bytes() == source.read_bytes()
    for group in ("image", "audio", "video", "document", "web", "other"):
        [icon] = index.rules_for("default_thumbnail", group_puid(group))
        made = runner.run(icon.command_spec, source, tmp_path / "out", basename=f"thumb-{group}")
        assert made.success and made.output_puid in icon.command_spec.output_puids
    groups = {f.puid: f.group for f in shipped_policy().formats}
    with_groups = PolicyIndex(resolve_policy(shipped_policy()), groups)
    assert [r.command for r in with_groups.fallback_for("thumbnail", "fmt/1355")] == ["icon-web"]
    assert [r.command for r in with_groups.fallback_for("thumbnail", "fmt/999999")] == ["icon-other"]
    assert [r.command for r in with_groups.fallback_for("access", "fmt/1355")] == ["copy-original"]
    assert with_groups.fallback_for("preservation", "fmt/1355") == []


def test_the_shipped_policy_is_consistent() -> None:
    policy = shipped_policy()
    tools = {t.name for t in policy.tools}
    commands = {c.name: c for c in policy.commands}
    formats = {f.puid for f in policy.formats}
    for command in policy.commands:
        assert not unknown_placeholders(command.argv), command.name
        assert command.tool in tools, command.name
        assert command.verifier is None or commands[command.verifier].verdict is not None, command.name
    for rule in policy.rules:
        assert rule.puid in formats and rule.command in commands, rule
        assert rule.purpose != "validation" or commands[rule.command].verdict is not None, rule
    keys = [(r.purpose, r.puid, r.command) for r in policy.rules]
    assert len(keys) == len(set(keys))
    # No shipped argv leaves the program to a shell.
    assert not {c.argv[0] for c in policy.commands} & {"sh", "bash", "/bin/sh"}


def test_every_shipped_tool_reports_its_version(runner: CommandRunner) -> None:
    from clients.ingest.fpr import ToolRead

    versions = {t.name: runner.tool_version(ToolRead(**t.model_dump())) for t in shipped_policy().tools}
    assert all(v != "unknown" and v[0].isdigit() for v in versions.values()), versions


def test_transcription_reads_the_words_of_a_printed_page(tmp_path: Path, index: PolicyIndex,
                                                         runner: CommandRunner) -> None:
    words = "Amber preservation test page"
    subprocess.run(["vips", "text", f"{tmp_path}/t.v", words, "--dpi", "300"], check=True)
    subprocess.run(["vips", "invert", f"{tmp_path}/t.v", f"{tmp_path}/i.v"], check=True)
    page = tmp_path / "page.png"
    subprocess.run(["vips", "embed", f"{tmp_path}/i.v", str(page), "40", "40", "1400", "200", "--extend", "white"],
                   check=True)
    [rule] = index.rules_for("transcription", "fmt/11")
    (tmp_path / "out").mkdir()
    result = runner.run(rule.command_spec, page, tmp_path / "out", basename="page")
    assert result.success, result.reason
    assert [p.name for p in result.outputs] == ["page.txt", "page.hocr"]
    assert result.outputs[0].read_text().split() == words.split()
    assert result.tool_version[0].isdigit()
