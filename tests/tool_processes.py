"""The ingest tool processes a test process has started and not yet ended: the tool guard, the Python host,
ExifTool and clamd (`services/ingest/processing/tools.py`). Each ends only when its owner is closed, so one still
running after its test is a `WorkerTools`, `CommandRunner`, `Characterizer` or `ChildProcesses` left open."""

from __future__ import annotations

import os
import time
from pathlib import Path

from services.ingest.tool_guard import MARK


def _kind(argv: list[str]) -> str | None:
    if any(arg.startswith(f"{MARK}=") for arg in argv):
        return "tool guard"
    if "services.ingest.fpr.pyhost" in argv:
        return "Python host"
    if "-stay_open" in argv:
        return "ExifTool"
    if argv and os.path.basename(argv[0]) == "clamd":
        return "clamd"
    return None


def tool_processes() -> dict[int, str]:
    """This process's live children that are tools, by pid: `kind: command line`."""
    found = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command's name may hold spaces and parentheses: the fields after the last ")" are the rest.
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if int(parent) != me or state in ("Z", "X"):
                continue
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # ended meanwhile
        kind = _kind(argv)
        if kind is not None:
            found[int(entry.name)] = f"{kind}: {' '.join(argv).strip()}"
    return found


def tools_left(before: set[int], grace: float = 5.0) -> dict[int, str]:
    """Tool processes started since `before` was taken that are still running after `grace` seconds (a tool that
    was killed may take a moment to end; one left open never does)."""
    deadline = time.monotonic() + grace
    while True:
        left = {pid: line for pid, line in tool_processes().items() if pid not in before}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
