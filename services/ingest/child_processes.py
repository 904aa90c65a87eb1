"""Tools a worker starts die with it, and what each one-off tool run costs is counted.

Long-lived tools (clamd, ExifTool) get a parent-death signal from a `preexec_fn` (`tool_guard.die_with_parent`):
they start once, from a thread that lives as long as the worker, so the fork that costs is paid once. One-off tools
are started with vfork (no `preexec_fn`) in a session of their own, and the worker's guard process (`tool_guard`)
kills their group if the worker dies; each is reaped with `wait4`, whose rusage goes to the worker's `ToolUsage`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from services.ingest.tool_guard import MARK, GuardUnavailable, ToolGuard
from services.ingest.tool_usage import ToolUsage


@functools.lru_cache(maxsize=256)
def _located(name: str, path: str | None) -> str:
    return shutil.which(name, path=path) or name


class AccountedPopen(subprocess.Popen[bytes]):
    """A Popen that reaps its child with `wait4`, hands the rusage to `on_reaped`, and keeps it as `usage`.

    Every wait of Popen (`wait`, `communicate`, `run`'s clean-up) goes through `_try_wait`; only `poll` does not,
    so callers of this class wait, never poll."""

    on_reaped: Callable[[AccountedPopen], None] | None = None
    usage: resource.struct_rusage | None = None

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self.usage = usage
            if self.on_reaped is not None:
                self.on_reaped(self)
        return pid, status


class ChildProcesses:
    """Starts the one-off tools of one worker; thread-safe. `close` ends the guard (and any tool still listed)."""

    def __init__(self, usage: ToolUsage | None = None) -> None:
        self.usage = usage or ToolUsage()
        self.guard = ToolGuard()

    def close(self) -> None:
        self.guard.close()

    def spawn(self, argv: list[str], *, tool: str, command: str, file_size_limit: int = 0,
              **options: Any) -> AccountedPopen:
        """`argv` running in a session of its own (its group is what a timeout or the guard kills). When it is
        reaped its CPU is counted under `tool` and `command`. `file_size_limit`: RLIMIT_FSIZE of the tool."""
        # The tool is located once per worker: an exec through PATH tries each folder in turn.
        executable = argv[0] if os.sep in argv[0] else _located(argv[0], os.environ.get("PATH"))
        argv = [executable, *argv[1:]]
        if file_size_limit:
            prlimit = _located("prlimit", os.environ.get("PATH"))
            if os.sep in prlimit:
                # An exec of util-linux's prlimit (~1.3 ms) rather than a preexec_fn, which forks the worker.
                argv = [prlimit, f"--fsize={file_size_limit}", "--", *argv]
            else:
                options["preexec_fn"] = _file_size_limit(file_size_limit)
        self.guard.start()
        # The environment as it is now (a copy made once would miss later changes; it costs microseconds beside
        # the exec), with the guard's mark.
        given = options.pop("env", None)
        env = {**(os.environ if given is None else given), MARK: self.guard.token}
        process = AccountedPopen(argv, start_new_session=True, env=env, **options)
        try:
            self.guard.watch(process.pid)
        except GuardUnavailable:
            # No guard: a tool that could outlive the worker does not run.
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise

        def reaped(done: AccountedPopen) -> None:
            self.guard.forget(done.pid)
            if done.usage is not None:
                self.usage.add_rusage(tool, command, done.usage)

        process.on_reaped = reaped
        return process

    def run(self, argv: list[str], *, tool: str, command: str, timeout: float,
            file_size_limit: int = 0) -> subprocess.CompletedProcess[bytes]:
        """As `subprocess.run(argv, capture_output=True, stdin=DEVNULL, timeout=timeout)`, but a run over time has
        its whole group killed before `TimeoutExpired` is raised."""
        with self.spawn(argv, tool=tool, command=command, file_size_limit=file_size_limit,
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise
            finally:
                # What the tool left running in its group ends with it.
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)
        return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def _file_size_limit(limit: int) -> Callable[[], None]:
    def prepare() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return prepare
