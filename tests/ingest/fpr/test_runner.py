"""The command runner on real processes: bounds, checks of the output, verdicts, placeholders."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clients.ingest.fpr import ResolvedCommand, ToolRead, VerdictRule, VerdictSpec
from services.ingest.fpr.runner import CommandRunner, read_verdict


def command(argv: list[str], **fields: Any) -> ResolvedCommand:
    tool = fields.pop("tool_spec", ToolRead(name=argv[0], version_argv=[]))
    return ResolvedCommand(name=f"test-{argv[0]}", tool=tool.name, argv=argv, tool_spec=tool, **fields)


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "picture.png"
    path.parent.mkdir()
    subprocess.run(["vips", "black", str(path), "8", "8"], check=True)
    return path


def test_a_command_that_makes_the_expected_format_succeeds(png: Path, tmp_path: Path,
                                                           runners: Callable[..., CommandRunner]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    tool = ToolRead(name="vips", version_argv=["vips", "--version"], version_pattern=r"vips-(\S+)")
    result = runners().run(command(
        ["vips", "copy", "{input}", "{output}"], tool_spec=tool, output_extension=".tif",
        output_puids=["fmt/353"], event_detail='program="{tool}"; version="{version}"'),
        png, out, basename="picture-1234")
    assert result.success, result.reason
    assert result.outputs == (out / "picture-1234.tif",) and result.output_puid == "fmt/353"
    assert [p.name for p in out.iterdir()] == ["picture-1234.tif"]  # nothing else left behind
    assert result.tool_version[0].isdigit()
    assert result.event_detail == f'program="vips"; version="{result.tool_version}"'
    assert result.event_outcome == "success"


def test_failures_are_failures(png: Path, tmp_path: Path, runners: Callable[..., CommandRunner]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    runner = runners()
    exited = runner.run(command(["sh", "-c", "echo broken >&2; exit 3"], output_extension=".tif"), png, out)
    assert not exited.success and exited.reason == "sh exited with 3: broken" and exited.exit_code == 3
    empty = runner.run(command(["touch", "{output}"], output_extension=".tif"), png, out)
    assert not empty.success and "empty" in empty.reason
    nothing = runner.run(command(["true"], output_extension=".tif"), png, out)
    assert not nothing.success and "made no .tif file" in nothing.reason
    wrong = runner.run(command(["cp", "{input}", "{output}"], output_extension=".tif", output_puids=["fmt/353"]),
                       png, out)
    assert not wrong.success and "fmt/11" in wrong.reason and "fmt/353" in wrong.reason
    text = tmp_path / "in" / "x.txt"
    text.write_bytes(bytes(range(256)) * 4)
    unknown = runner.run(command(["cp", "{input}", "{output}"], output_extension=".bin"), text, out)
    assert not unknown.success and "could not be identified" in unknown.reason
    missing = runner.run(command(["no-such-tool-here", "{input}"]), png)
    assert not missing.success and not missing.ran and "could not be started" in missing.reason
    assert list(out.iterdir()) == []
    assert unknown.event_outcome == "failure"


def test_a_copy_of_an_unidentifiable_original_is_accepted_as_such_and_only_a_copy(
        tmp_path: Path, runners: Callable[..., CommandRunner]) -> None:
    """The default access copy (output in the input's format) of a file no signature matches is as unidentified as
    its original: it is made, and the reason says so. A command that claims its own format gets no such pass, nor
    does a "copy" whose output is not what its original was."""
    out = tmp_path / "out"
    out.mkdir()
    opaque = tmp_path / "in" / "clip.mpg"
    opaque.parent.mkdir()
    opaque.write_bytes(bytes(range(256)) * 4)
    runner = runners()
    copied = runner.run(command(["cp", "--", "{input}", "{output}"], output_extension="{ext}"), opaque, out,
                        basename="uuid-clip")
    assert copied.success and copied.output_puid is None, copied.reason
    assert "could not be identified" in copied.reason and "as its original's" in copied.reason
    assert copied.outputs == (out / "uuid-clip.mpg",)
    assert (out / "uuid-clip.mpg").read_bytes() == opaque.read_bytes()
    claimed = runner.run(command(["cp", "--", "{input}", "{output}"], output_extension="{ext}",
                                 output_puids=["fmt/649"]), opaque, out, basename="claimed")
    assert not claimed.success and "could not be identified" in claimed.reason
    png = tmp_path / "in" / "picture.png"
    subprocess.run(["vips", "black", str(png), "8", "8"], check=True)
    garbled = runner.run(command(["cp", "--", str(opaque), "{output}"], output_extension="{ext}"), png, out,
                         basename="garbled")
    assert not garbled.success and "could not be identified" in garbled.reason
    assert sorted(p.name for p in out.iterdir()) == ["uuid-clip.mpg"]


def test_scratch_space_is_made_where_the_caller_cleans_up(png: Path, tmp_path: Path,
                                                          runners: Callable[..., CommandRunner]) -> None:
    """A killed worker removes nothing: the tool's `{tmp}` (a LibreOffice profile) must be in the caller's folder,
    the one a retry or the SIP's removal clears, never in the system's temporary folder."""
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    out.mkdir()
    scratch.mkdir()
    runner = runners()
    said = runner.run(command(["sh", "-c", "echo {tmp}"]), png, scratch_dir=scratch)
    assert said.success and Path(said.stdout.strip()).parent == scratch
    made = runner.run(command(["sh", "-c", "echo {tmp} >&2; cp {input} {output}"], output_extension=".png"), png,
                      out, basename="copy")
    assert made.success, made.reason
    assert Path(made.stderr.strip()).parent == out
    assert [p.name for p in out.iterdir()] == ["copy.png"] and list(scratch.iterdir()) == []


def test_a_run_over_time_is_killed_with_its_children_and_heartbeats(png: Path, tmp_path: Path,
                                                                    runners: Callable[..., CommandRunner]) -> None:
    pid_file = tmp_path / "child.pid"
    beats: list[float] = []
    started = time.monotonic()
    result = runners(poll_seconds=0.1).run(
        command(["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"], timeout_seconds=1.0), png,
        heartbeat=lambda: beats.append(time.monotonic()))
    assert time.monotonic() - started < 10
    assert not result.success and not result.ran and "timed out after 1 s" in result.reason
    assert len(beats) >= 5
    child = int(pid_file.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_output_and_capture_are_bounded(png: Path, tmp_path: Path, runners: Callable[..., CommandRunner]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    runner = runners(poll_seconds=0.1)
    flood = runner.run(command(["yes"], max_output_bytes=1_000_000, timeout_seconds=30), png)
    assert not flood.success and not flood.ran and "more than 1000000 bytes" in flood.reason
    assert len(flood.stdout) <= 4097
    big = runner.run(command(["dd", "if=/dev/zero", "of={output}", "bs=1M", "count=3"], output_extension=".bin",
                             max_output_bytes=1_000_000, timeout_seconds=30), png, out)
    assert not big.success and ("more than" in big.reason or "over the bound" in big.reason)
    assert list(out.iterdir()) == []


def test_placeholders_are_replaced_inside_arguments_and_other_braces_kept(
        png: Path, tmp_path: Path, runners: Callable[..., CommandRunner]) -> None:
    result = runners().run(command(
        ["echo", '{"SelectPdfVersion":{"type":"long"}}', "{name}", "{basename}", "x={input}", "{data}"]), png)
    assert result.success
    words = result.stdout.split()
    assert words[:4] == ['{"SelectPdfVersion":{"type":"long"}}', "picture.png", "picture", f"x={png}"]
    assert words[4].endswith("services/ingest/fpr/data") and os.path.isdir(words[4])


def test_a_verifier_refusing_the_output_fails_the_command(png: Path, tmp_path: Path,
                                                          runners: Callable[..., CommandRunner]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    refuse = command(["false"], verdict=VerdictSpec())
    result = runners().run(command(["cp", "{input}", "{output}"], output_extension=".png",
                                   verifier="test-false", verifier_spec=refuse), png, out)
    assert not result.success and "test-false refused the output: exit code 1" in result.reason
    assert list(out.iterdir()) == []


def test_verdicts_are_read_by_exit_code_and_rules() -> None:
    spec = VerdictSpec(pass_exit_codes=[0], partial_exit_codes=[3], rules=[
        VerdictRule(pattern="xref", stream="stderr", verdict="fail", reason="broken cross-reference table"),
        VerdictRule(pattern=r"<isValid[^>]*>True", stream="stdout", when="missing", verdict="fail"),
        VerdictRule(pattern="WARNING", verdict="partial pass"),
    ])
    assert read_verdict(spec, 0, "<isValid format='jp2'>True</isValid>", "") == ("pass", "")
    assert read_verdict(spec, 0, "<isValid>True</isValid> WARNING: odd", "")[0] == "partial pass"
    verdict, reason = read_verdict(spec, 3, "<isValid>True</isValid>", "file has damaged xref; recovered")
    assert verdict == "fail" and "broken cross-reference table" in reason and "exit code 3" in reason
    verdict, reason = read_verdict(spec, 2, "", "not a file")
    assert verdict == "fail" and "exit code 2" in reason
    assert read_verdict(spec, 0, "<isValid>False</isValid>", "")[0] == "fail"
