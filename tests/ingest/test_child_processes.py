"""One-off tools: they die with the worker however it dies (the guard), and each run's CPU is counted (wait4)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.ingest.child_processes import ChildProcesses
from services.ingest.tool_usage import ToolUsage

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie is dead; reaping it is up to whatever init the container has


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("how", ["runner", "children"])
def test_tools_die_with_a_worker_killed_with_sigkill(tmp_path: Path, how: str) -> None:
    """A worker killed while a long tool (and the tool's own child) runs leaves neither running."""
    start = {
        # Through the registry's runner, from a thread other than the main one, as activities run.
        "runner": (
            "import threading\n"
            "from clients.ingest.fpr import ResolvedCommand, ToolRead\n"
            "from services.ingest.fpr.runner import CommandRunner\n"
            "tool = ToolRead(name='sh', version_argv=[])\n"
            "command = ResolvedCommand(name='long', tool='sh', tool_spec=tool, argv=['sh', '-c', SCRIPT],\n"
            "                          timeout_seconds=600)\n"
            "runner = CommandRunner(warm_python=False)\n"
            "threading.Thread(target=runner.run, args=(command, Path(sys.argv[0]))).start()\n"
        ),
        "children": (
            "from services.ingest.child_processes import ChildProcesses\n"
            "ChildProcesses().spawn(['sh', '-c', SCRIPT], tool='sh', command='long')\n"
        ),
    }[how]
    pids = tmp_path / "pids"
    script = (
        "import os, signal, sys, time\nfrom pathlib import Path\n"
        f"SCRIPT = 'sleep 300 & echo $$ $! > {pids}.tmp && mv {pids}.tmp {pids}; wait'\n"
        + start +
        f"while not Path('{pids}').exists(): time.sleep(0.01)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    worker = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert worker.returncode == -9, worker.stderr
    tool, grandchild = (int(pid) for pid in pids.read_text().split())
    try:
        assert _gone_within(tool, 10), "the tool outlived the worker"
        assert _gone_within(grandchild, 10), "the tool's child outlived the worker"
    finally:
        for pid in (tool, grandchild):
            if _alive(pid):
                os.kill(pid, 9)


def test_each_run_is_counted_with_its_cpu() -> None:
    registry = CollectorRegistry()
    children = ChildProcesses(ToolUsage(registry))
    try:
        busy = children.run(["sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo done"],
                            tool="sh", command="count", timeout=60)
        assert busy.stdout == b"done\n"
        children.run(["true"], tool="true", command="nothing", timeout=60)
        children.run(["true"], tool="true", command="nothing", timeout=60)
    finally:
        children.close()
    runs = {labels: registry.get_sample_value("amber_tool_runs_total", {"tool": labels[0], "command": labels[1]})
            for labels in (("sh", "count"), ("true", "nothing"))}
    assert runs == {("sh", "count"): 1.0, ("true", "nothing"): 2.0}
    cpu = registry.get_sample_value("amber_tool_cpu_seconds_total", {"tool": "sh", "command": "count"})
    assert cpu is not None and cpu > 0.02  # a shell counting to 100,000 takes a tenth of a second or so


def test_a_run_over_time_is_killed_with_its_group() -> None:
    children = ChildProcesses()
    try:
        started = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            children.run(["sh", "-c", "sleep 300 & sleep 300"], tool="sh", command="long", timeout=0.5)
        assert time.monotonic() - started < 10
    finally:
        children.close()


def test_a_guard_that_died_is_replaced() -> None:
    children = ChildProcesses()
    try:
        children.run(["true"], tool="true", command="first", timeout=60)
        first = children.guard.pid
        assert first is not None
        os.kill(first, 9)
        assert _gone_within(first, 10)
        done = children.run(["echo", "again"], tool="echo", command="second", timeout=60)
        assert done.stdout == b"again\n"
        assert children.guard.pid not in (None, first)
    finally:
        children.close()


def test_the_file_size_limit_stops_a_tool_writing_more(tmp_path: Path) -> None:
    children = ChildProcesses()
    try:
        children.run(["sh", "-c", f"head -c 100000 /dev/zero > {tmp_path / 'big'}"], tool="sh", command="write",
                     timeout=60, file_size_limit=1000)
    finally:
        children.close()
    assert (tmp_path / "big").stat().st_size == 1000


def test_a_tools_child_that_left_its_group_dies_with_the_worker(tmp_path: Path) -> None:
    """The guard also finds the worker's tools by the mark in their environment, whatever group they are in."""
    pids = tmp_path / "pids"
    script = (
        "import os, signal, time\nfrom pathlib import Path\n"
        "from services.ingest.child_processes import ChildProcesses\n"
        f"SCRIPT = 'setsid sleep 300 & echo $! > {pids}.tmp && mv {pids}.tmp {pids}; wait'\n"
        "ChildProcesses().spawn(['sh', '-c', SCRIPT], tool='sh', command='long')\n"
        f"while not Path('{pids}').exists(): time.sleep(0.01)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    worker = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert worker.returncode == -9, worker.stderr
    escaped = int(pids.read_text())
    try:
        with contextlib.suppress(ProcessLookupError):
            assert os.getpgid(escaped) == escaped  # it did leave the tool's group
        assert _gone_within(escaped, 10), "a child that left its tool's group outlived the worker"
    finally:
        if _alive(escaped):
            os.kill(escaped, 9)
