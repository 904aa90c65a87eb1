"""A warm Python for the registry's `{python} -m <module> …` commands.

Starting an interpreter and importing lxml costs 30 to 90 ms, far more than the checks themselves (an XML
well-formedness parse, a RIFF chunk walk), and a worker runs such a command on every XML or WAV file. The host is
one small process per worker that has imported each module once and forks a child per run: the child is the
command, run by `runpy` as `python -m` would (its own session, `sys.argv`, stdin from /dev/null, stdout and stderr
to the files the runner gives, exit status from `SystemExit`), so a command behaves as it does when spawned, for a
fork's cost. The runner still bounds each run in time and output and kills the child's process group; the host
only starts children and reports how they ended. If the host cannot be used, the runner spawns the command as
before.

Protocol, one JSON object per line: requests `{"id", "module", "args", "cwd", "stdout", "stderr"}` on the host's
stdin; answers `{"id", "pid"}` once forked (or `{"id", "error"}`), then `{"id", "exit", "cpu"}` (exit negative: the
signal; cpu: the child's user and system seconds, from its rusage).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from services.ingest.tool_guard import die_with_parent, end_by_closing_stdin

START_TIMEOUT = 30.0
# How long the host may spend importing a module to warm it (the variable is for tests).
IMPORT_SECONDS = int(os.environ.get("AMBER_PYTHON_HOST_IMPORT_SECONDS", "10"))


# --- the host process ---------------------------------------------------------------------------------------------

def _run_child(request: dict[str, Any], channel: int) -> None:
    """In the forked child: become the command, never return."""
    code = 1
    try:
        os.close(channel)
        os.setsid()
        die_with_parent()
        os.chdir(request["cwd"])
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for source, target in ((null, 0), (out, 1), (err, 2)):
            os.dup2(source, target)
            os.close(source)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the child's own streams for its whole life
        sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        sys.argv = [request["module"], *request["args"]]
        # The host imported the module to warm its imports; as `python -m` does, it runs afresh as __main__.
        sys.modules.pop(request["module"], None)
        import runpy

        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:  # the command's own failure, reported as python would
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


def _warm(module: str) -> None:
    """Import once here what every child would import: that is what makes them warm. The import is bounded in
    time; a module that fails or takes too long is left to each child to import, with python's own message."""

    def too_long(*_: object) -> None:
        raise TimeoutError(f"importing {module} took over {IMPORT_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(IMPORT_SECONDS)
    try:
        importlib.import_module(module)
    except BaseException:  # anything the module's own code raises, SystemExit included
        for name in [name for name in sys.modules if name == module or name.startswith(f"{module}.")]:
            del sys.modules[name]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def serve() -> None:
    """The host's loop: read requests, fork, report exits. Ends when its stdin closes: the worker is gone (a
    parent-death signal would not do, as it follows the worker thread that started the host, not the worker)."""
    # The protocol gets its own descriptors, so nothing a child inherits on 0/1 can write into it.
    requests, answers = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
    children: dict[int, int] = {}
    imported: set[str] = set()
    buffer = b""

    def answer(message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(answers, data):]

    while True:
        readable, _, _ = select.select([requests, wake_read], [], [])
        if wake_read in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 4096)
        while children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            answer({"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status),
                    "cpu": usage.ru_utime + usage.ru_stime})
        if requests not in readable:
            continue
        chunk = os.read(requests, 65536)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            if request["module"] not in imported:
                _warm(request["module"])
                imported.add(request["module"])
            try:
                pid = os.fork()
            except OSError as exc:
                answer({"id": request["id"], "error": str(exc)})
                continue
            if pid == 0:
                _run_child(request, answers)
            children[pid] = request["id"]
            answer({"id": request["id"], "pid": pid})


# --- the worker's side ----------------------------------------------------------------------------------------------

@dataclass
class HostedRun:
    """One command run by the host: its pid (also its process group) and, once it has ended, its exit code."""

    pid: int = 0
    error: str = ""
    exit_code: int | None = None
    cpu_seconds: float = 0.0  # of the child, as the host reaped it
    started: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float) -> bool:
        return self.ended.wait(timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


class HostUnavailable(RuntimeError):
    pass


class PythonHost:
    """Thread-safe; one per worker, started at its first use and again if it dies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._runs: dict[int, HostedRun] = {}
        self._next = 0
        self._cold: set[str] = set()

    def start(self, module: str, args: list[str], cwd: str, stdout: str, stderr: str) -> HostedRun:
        if module in self._cold:
            raise HostUnavailable(f"{module} once kept the Python host from answering")
        for attempt in (1, 2):
            run = HostedRun()
            with self._lock:
                process = self._ensure()
                self._next += 1
                number = self._next
                self._runs[number] = run
                request = {"id": number, "module": module, "args": args, "cwd": cwd, "stdout": stdout,
                           "stderr": stderr}
                try:
                    assert process.stdin is not None
                    process.stdin.write((json.dumps(request) + "\n").encode())
                    process.stdin.flush()
                except OSError:
                    # A host that died between two runs: the next one starts a new host.
                    self._runs.pop(number, None)
                    self._forget(process)
                    continue
            if not run.started.wait(START_TIMEOUT):
                # Stuck (in an import that no signal interrupts): replaced, and the module is run cold from now on.
                with self._lock:
                    self._runs.pop(number, None)
                    self._cold.add(module)
                    self._forget(process)
                raise HostUnavailable("the Python host did not start the command in time")
            if run.error and attempt == 1 and not run.pid:
                continue  # the host died before it forked: nothing ran, a new host may
            if run.error:
                raise HostUnavailable(run.error)
            return run
        raise HostUnavailable("the Python host stopped twice")

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        if self._process is not None:
            self._forget(self._process)
        process = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self._process = process
        threading.Thread(target=self._read, args=(process,), name="python-host-reader", daemon=True).start()
        return process

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            message = json.loads(line)
            with self._lock:
                run = self._runs.get(message["id"])
                if run is None:
                    continue
                if "pid" in message:
                    run.pid = message["pid"]
                    run.started.set()
                elif "error" in message:
                    run.error = message["error"]
                    self._runs.pop(message["id"], None)
                    run.started.set()
                else:
                    run.exit_code = message["exit"]
                    run.cpu_seconds = message.get("cpu", 0.0)
                    self._runs.pop(message["id"], None)
                    run.ended.set()
        with self._lock:
            self._forget(process)

    def _forget(self, process: subprocess.Popen[bytes]) -> None:
        """A host that stopped answering is never asked again (a host in the middle of dying may still look
        alive to `poll`); its runs end as lost. Called with the lock held."""
        if self._process is not process:
            return
        self._process = None
        with contextlib.suppress(OSError):
            process.kill()
        self._fail_all("the Python host stopped")

    def _fail_all(self, reason: str) -> None:
        """Runs whose host died: the children died with it (parent-death signal); their end is unknown."""
        for run in self._runs.values():
            run.error = run.error or reason
            run.started.set()
            run.ended.set()
        self._runs.clear()

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            self._fail_all("the Python host was closed")
        if process is not None and process.poll() is None:
            end_by_closing_stdin(process)


if __name__ == "__main__":
    serve()
