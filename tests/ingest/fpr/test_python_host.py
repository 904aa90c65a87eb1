"""`{python} -m module` commands run by the warm Python host behave as if spawned: argv, working folder, exit
status, both streams, stdin closed; they are bounded in time like any command; a dead host costs one run, not the
worker."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clients.ingest.fpr import ResolvedCommand, ToolRead, VerdictRule, VerdictSpec
from services.ingest.fpr.runner import CommandRunner

MODULE = "amber_host_probe"


def command(args: list[str], **fields: object) -> ResolvedCommand:
    tool = ToolRead(name="probe", version_argv=[])
    return ResolvedCommand(name="probe-check", tool="probe", argv=["{python}", "-m", MODULE, *args],
                           tool_spec=tool, **fields)


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module importable by the host (it inherits PYTHONPATH), doing what the test's arguments ask."""
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(textwrap.dedent("""
        import os, sys, time
        IMPORTED_AS = __name__
        if __name__ == "__main__":
            what = sys.argv[1]
            if what == "describe":
                print(f"argv={sys.argv[1:]} cwd={os.getcwd()} stdin={sys.stdin.read()!r} pid={os.getpid()}")
                print("to stderr", file=sys.stderr)
                raise SystemExit(int(sys.argv[2]))
            if what == "sleep":
                print(os.getpid(), flush=True)
                time.sleep(60)
            if what == "crash":
                raise ValueError("the check broke")
            if what == "text-exit":
                sys.exit("a reason")
    """), encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", f"{folder}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return folder


@pytest.fixture
def runner() -> Iterator[CommandRunner]:
    made = CommandRunner(poll_seconds=0.1)
    yield made
    made.close()


def test_a_module_runs_as_if_spawned(probe: Path, tmp_path: Path, runner: CommandRunner) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"x")
    first = runner.run(command(["describe", "0", "{input}"]), target)
    assert first.success and first.exit_code == 0, first
    assert f"argv=['describe', '0', '{target}']" in first.stdout and "stdin=''" in first.stdout
    assert "cwd=" in first.stdout and str(tmp_path) not in first.stdout.split("cwd=")[1].split()[0]
    assert first.stderr.strip() == "to stderr"
    assert runner.python_host is not None and runner.python_host._process is not None
    host = runner.python_host._process.pid
    # The run is a child of the host, not a new interpreter of the worker's.
    assert f"pid={os.getpid()}" not in first.stdout
    failed = runner.run(command(["describe", "3"]), target)
    assert not failed.success and failed.exit_code == 3 and "exited with 3" in failed.reason
    crash = runner.run(command(["crash"]), target)
    assert crash.exit_code == 1 and "ValueError: the check broke" in crash.stderr
    reason = runner.run(command(["text-exit"]), target)
    assert reason.exit_code == 1 and reason.stderr.strip() == "a reason"
    assert runner.python_host._process.pid == host  # one host served every run


def test_a_verdict_is_read_from_a_hosted_run(probe: Path, tmp_path: Path, runner: CommandRunner) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"x")
    spec = VerdictSpec(pass_exit_codes=[0], rules=[VerdictRule(pattern="to stderr", stream="stderr",
                                                               verdict="partial pass")])
    judged = runner.run(command(["describe", "0"], verdict=spec), target)
    assert judged.verdict == "partial pass" and judged.reason == "to stderr"


def test_a_hosted_run_is_stopped_at_its_timeout(probe: Path, tmp_path: Path, runner: CommandRunner) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"x")
    started = time.monotonic()
    slow = runner.run(command(["sleep"], timeout_seconds=1), target)
    assert not slow.ran and "timed out after 1 s" in slow.reason
    assert time.monotonic() - started < 15
    child = slow.stdout.strip()
    assert child.isdigit()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists()  # killed, and reaped by the host
    again = runner.run(command(["describe", "0"]), target)
    assert again.success  # the host goes on


def test_a_dead_host_loses_one_run_and_is_replaced(probe: Path, tmp_path: Path, runner: CommandRunner) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"x")
    assert runner.run(command(["describe", "0"]), target).success
    assert runner.python_host is not None and runner.python_host._process is not None
    host = runner.python_host._process.pid
    children = Path(f"/proc/{host}/task/{host}/children")
    # The first run's child may not be reaped yet on a loaded machine: the run to lose is a child not seen before.
    earlier = set(children.read_text().split())

    def kill_host() -> None:
        # Once the run is a live child of the host.
        deadline = time.monotonic() + 20
        while not set(children.read_text().split()) - earlier and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(host, signal.SIGKILL)

    threading.Thread(target=kill_host).start()
    started = time.monotonic()
    lost = runner.run(command(["sleep"], timeout_seconds=30), target)
    assert not lost.ran and "lost" in lost.reason, lost.reason
    assert time.monotonic() - started < 20  # known at once, not at the timeout
    after = runner.run(command(["describe", "0"]), target)
    assert after.success and runner.python_host._process.pid != host


def test_without_the_host_the_command_is_spawned(probe: Path, tmp_path: Path,
                                                 runners: Callable[..., CommandRunner]) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"x")
    cold = runners(warm_python=False)
    result = cold.run(command(["describe", "5"]), target)
    assert result.exit_code == 5 and "to stderr" in result.stderr and cold.python_host is None


def test_a_module_whose_import_hangs_is_run_cold(probe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (probe / "amber_slow_import.py").write_text(textwrap.dedent("""
        import sys, time
        if __name__ != "__main__":
            time.sleep(60)  # only when imported, as the host does to warm it
        else:
            print("ran", sys.argv[1:])
    """), encoding="utf-8")
    monkeypatch.setenv("AMBER_PYTHON_HOST_IMPORT_SECONDS", "1")
    target = tmp_path / "file.bin"
    target.write_bytes(b"x")
    runner = CommandRunner(poll_seconds=0.1)
    try:
        slow = ResolvedCommand(name="slow", tool="slow", argv=["{python}", "-m", "amber_slow_import", "a"],
                               tool_spec=ToolRead(name="slow", version_argv=[]))
        started = time.monotonic()
        result = runner.run(slow, target)
        assert result.success and "ran ['a']" in result.stdout, result
        assert time.monotonic() - started < 15
        assert runner.run(command(["describe", "0"]), target).success  # the host answers the next run
    finally:
        runner.close()
