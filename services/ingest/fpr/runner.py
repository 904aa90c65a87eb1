"""Runs one registry command on one file: an I/O adapter usable from any activity thread (no Temporal here).

The command is data (`ResolvedCommand`); this module knows placeholders, never tools. Each run is bounded in time
(the whole process group is killed), in captured output and in the bytes it may write, and its result is checked:
a command that fails, times out, or makes a missing, empty or unexpected file is a failure, never a success. A
validation command's verdict is read from its exit code and output by the command's own rules.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from clients.ingest.fpr import ResolvedCommand, ToolRead, Verdict, VerdictSpec
from services.ingest.child_processes import AccountedPopen, ChildProcesses
from services.ingest.disk_usage import tree_size
from services.ingest.fpr.placeholders import render
from services.ingest.fpr.pyhost import HostedRun, HostUnavailable, PythonHost
from services.ingest.processing.identification import identify
from services.ingest.tool_guard import GuardUnavailable

DATA_DIR = Path(__file__).parent / "data"
EXCERPT_BYTES = 4096  # of stdout and stderr, kept in the result
VERDICT_BYTES = 1024 * 1024  # of stdout and stderr, read by a verdict's rules
VERSION_TIMEOUT = 30.0
KILL_WAIT_SECONDS = 10.0  # for a killed process group to be reaped
_RANK: dict[Verdict, int] = {"pass": 0, "partial pass": 1, "fail": 2}

Heartbeat = Callable[[], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandResult:
    """What one run did. `ran` is False when the tool gave no answer at all (missing, timed out, stopped for
    writing too much): for a validation that is inconclusive rather than a verdict on the file."""

    command: str
    tool: str
    tool_version: str
    success: bool
    reason: str
    ran: bool = True
    outputs: tuple[Path, ...] = ()
    output_puid: str | None = None
    duration_seconds: float = 0.0
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    event_detail: str = ""
    verdict: Verdict | None = None
    verifier: CommandResult | None = field(default=None, repr=False)

    @property
    def output(self) -> Path | None:
        return self.outputs[0] if self.outputs else None

    @property
    def event_outcome(self) -> str:
        """PREMIS eventOutcome: the verdict of a validation, else Archivematica's normalization words."""
        if self.verdict is not None:
            return self.verdict
        return "success" if self.success else "failure"


@dataclass
class _Process:
    exit_code: int | None
    stopped: str  # why the run was stopped, or ""
    stdout: bytes
    stderr: bytes
    duration: float


class _Running(Protocol):
    exit_code: int | None
    lost: str  # the run's end cannot be known (its host died), or ""

    def wait(self, timeout: float) -> bool: ...
    def kill(self) -> None: ...
    def close(self) -> None: ...


class _Spawned:
    """A spawned tool, waited for on a pidfd: the wait ends the moment it exits, with no polling."""

    def __init__(self, process: AccountedPopen) -> None:
        self.process, self.lost = process, ""
        self.exit_code: int | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(process.pid)
        except (OSError, AttributeError):
            self._pidfd = None

    def wait(self, timeout: float) -> bool:
        if self._pidfd is not None:
            ready, _, _ = select.select([self._pidfd], [], [], timeout)
            if not ready:
                return False
            timeout = KILL_WAIT_SECONDS
        try:
            self.exit_code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        if self.exit_code is None:
            self.exit_code = self.process.wait()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


class _Hosted:
    """A `{python} -m` command forked by the warm Python host, which reaps it and says what CPU it used."""

    def __init__(self, run: HostedRun, account: Callable[[float], None]) -> None:
        self.run, self.account = run, account
        self.exit_code: int | None = None
        self.lost = ""

    def wait(self, timeout: float) -> bool:
        if not self.run.wait(timeout):
            return False
        if self.run.exit_code is not None and self.exit_code is None:
            self.account(self.run.cpu_seconds)
        self.exit_code = self.run.exit_code
        if self.run.exit_code is None:
            self.lost = f"the run was lost: {self.run.error}"
        return True

    def kill(self) -> None:
        self.run.kill()

    def close(self) -> None:
        if not self.run.ended.is_set():
            self.run.wait(KILL_WAIT_SECONDS)
        self.wait(0)


def _read(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(limit)


def _excerpt(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= EXCERPT_BYTES else text[:EXCERPT_BYTES] + "…"


def read_verdict(spec: VerdictSpec, exit_code: int | None, stdout: str, stderr: str) -> tuple[Verdict, str]:
    """The worst of what the exit code and the matching output rules say, with the reasons."""
    reasons: list[str] = []
    verdict: Verdict = "pass"
    if exit_code not in spec.pass_exit_codes:
        verdict = "partial pass" if exit_code in spec.partial_exit_codes else "fail"
        reasons.append(f"exit code {exit_code}")
    streams = {"stdout": stdout, "stderr": stderr, "any": f"{stdout}\n{stderr}"}
    for rule in spec.rules:
        found = _matching_lines(rule.pattern, streams[rule.stream])
        hit = bool(found) if rule.when == "matches" else not found
        if not hit or _RANK[rule.verdict] == 0:
            continue
        if _RANK[rule.verdict] > _RANK[verdict]:
            verdict = rule.verdict
        reasons.append(rule.reason or "; ".join(line.strip() for line in found[:5]) or f"no {rule.pattern!r}")
    if verdict != "pass" and len(reasons) == 1 and reasons[0].startswith("exit code"):
        said = " ".join(f"{stderr}\n{stdout}".split())
        if said:
            reasons.append(said[:600])
    return verdict, "; ".join(dict.fromkeys(reasons))


def _matching_lines(pattern: str, text: str, most: int = 5) -> list[str]:
    lines: list[str] = []
    for match in re.finditer(pattern, text, re.MULTILINE):
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        lines.append(text[start:len(text) if end < 0 else end])
        if len(lines) >= most:
            break
    return lines


class CommandRunner:
    """Thread-safe; one per worker. Tool versions are asked once per process and kept."""

    def __init__(self, data_dir: Path = DATA_DIR, poll_seconds: float = 0.5, *, warm_python: bool = True,
                 children: ChildProcesses | None = None) -> None:
        self.data_dir = data_dir
        self.poll_seconds = poll_seconds
        self.python_host = PythonHost() if warm_python else None
        # A runner given the worker's child processes leaves them to their owner.
        self._own_children = children is None
        self.children = children or ChildProcesses()
        self._versions: dict[tuple[str, tuple[str, ...], str], str] = {}
        self._lock = threading.Lock()
        # One scratch folder per thread, emptied after each run rather than made and removed: on some file
        # systems the two cost more than a small tool's whole run.
        self._local = threading.local()
        self._scratches: list[Path] = []

    def close(self) -> None:
        if self.python_host is not None:
            self.python_host.close()
        if self._own_children:
            self.children.close()
        with self._lock:
            scratches, self._scratches = self._scratches, []
        for scratch in scratches:
            shutil.rmtree(scratch, ignore_errors=True)

    def _scratch(self) -> Path:
        if getattr(self._local, "busy", False):
            # A run inside a run (a verifier checking a command's output) gets a folder of its own.
            return Path(tempfile.mkdtemp(prefix="amber-cmd-"))
        self._local.busy = True
        scratch: Path | None = getattr(self._local, "scratch", None)
        if scratch is None or not scratch.is_dir():
            scratch = Path(tempfile.mkdtemp(prefix="amber-cmd-"))
            self._local.scratch = scratch
            with self._lock:
                self._scratches.append(scratch)
        return scratch

    def _release(self, scratch: Path) -> None:
        """What a run left in its scratch folder goes; a folder that cannot be emptied is given up."""
        if scratch != getattr(self._local, "scratch", None):
            shutil.rmtree(scratch, ignore_errors=True)
            return
        self._local.busy = False
        try:
            with os.scandir(scratch) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path)
                    elif entry.name not in (".stdout", ".stderr"):
                        os.unlink(entry.path)
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)
            self._local.scratch = None

    def tool_version(self, tool: ToolRead) -> str:
        key = (tool.name, tuple(tool.version_argv), tool.version_pattern)
        with self._lock:
            if key in self._versions:
                return self._versions[key]
        found = self._ask_version(tool)
        with self._lock:
            self._versions[key] = found
        return found

    def _ask_version(self, tool: ToolRead) -> str:
        if not tool.version_argv:
            return "unknown"
        argv = render(tool.version_argv, {"python": sys.executable, "data": str(self.data_dir)})
        try:
            done = self.children.run(argv, tool=tool.name, command="version", timeout=VERSION_TIMEOUT)
        except (OSError, subprocess.SubprocessError, GuardUnavailable):
            return "unknown"
        text = (done.stdout + b"\n" + done.stderr).decode("utf-8", "replace")
        if tool.version_pattern:
            match = re.search(tool.version_pattern, text, re.MULTILINE)
            if match:
                return (match.group(1) if match.groups() else match.group(0)).strip()[:100]
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[0][:100] if lines else "unknown"

    def run(self, command: ResolvedCommand, source: Path, output_dir: Path | None = None, *,
            basename: str | None = None, heartbeat: Heartbeat | None = None,
            scratch_dir: Path | None = None) -> CommandResult:
        """Run `command` on `source`. A command that makes a file writes it as `<output_dir>/<basename><ext>`
        (basename defaults to the source's stem); anything else it leaves behind is removed.

        The tool's scratch space (its captured output, `{tmp}`: a LibreOffice profile is tens of MB) is made in
        `scratch_dir`, else in `output_dir`, else in the system's temporary folder: a worker killed mid-run can
        remove nothing, so its leftovers must be where the caller's own clean-up (a retry, the SIP's removal)
        finds them."""
        source = source.absolute()
        stem = basename or source.stem
        makes_file = command.output_extension is not None
        if makes_file and output_dir is None:
            raise ValueError(f"{command.name} makes a file: give an output directory")
        version = self.tool_version(command.tool_spec)
        detail = (command.event_detail.replace("{tool}", command.tool).replace("{version}", version)
                  .replace("{command}", command.name))
        base = CommandResult(command.name, command.tool, version, False, "", event_detail=detail)
        scratch_in = scratch_dir or (output_dir if makes_file else None)
        # A caller's folder gets a scratch folder of its own per run (removed after it); the others, one reused
        # per thread.
        scratch = Path(tempfile.mkdtemp(prefix=".amber-cmd-", dir=scratch_in)) if scratch_in else self._scratch()
        work = Path(tempfile.mkdtemp(prefix=".amber-run-", dir=output_dir)) if makes_file and output_dir else scratch
        extension = source.suffix if command.output_extension == "{ext}" else command.output_extension or ""
        try:
            expected = work / f"{stem}{extension}"
            values = {
                "input": str(source), "output": str(expected), "output_dir": str(work), "basename": stem,
                "name": source.name, "tmp": str(scratch), "data": str(self.data_dir), "python": sys.executable,
            }
            argv = render(command.argv, values)
            done = self._execute(argv, command, scratch, work if makes_file else None, heartbeat,
                                 expected if command.stdout_is_output else None)
            result = _with_process(base, done)
            if done.stopped:
                return _replace(result, ran=False, reason=done.stopped)
            if command.verdict is not None:
                return self._judge(result, command.verdict, done)
            if done.exit_code != 0:
                said = " ".join(result.stderr.split())[:600] or " ".join(result.stdout.split())[:600]
                return _replace(result, reason=f"{command.tool} exited with {done.exit_code}: {said}".strip(": "))
            if not makes_file or output_dir is None:
                return _replace(result, success=True, reason="completed")
            return self._check_output(result, command, source, work, expected, output_dir, heartbeat)
        finally:
            self._release(scratch)
            if work != scratch:
                shutil.rmtree(work, ignore_errors=True)

    def _execute(self, argv: list[str], command: ResolvedCommand, scratch: Path, work: Path | None,
                 heartbeat: Heartbeat | None, stdout_file: Path | None) -> _Process:
        out_path, err_path = stdout_file or scratch / ".stdout", scratch / ".stderr"
        started = time.monotonic()
        running = self._start(argv, command, scratch, out_path, err_path)
        if isinstance(running, str):
            return _Process(None, running, b"", b"", 0.0)
        stopped = ""
        try:
            while not running.wait(self.poll_seconds):
                if heartbeat is not None:
                    heartbeat()
                elapsed = time.monotonic() - started
                # Scratch holds the captured output and whatever the tool writes to {tmp}.
                written = tree_size(scratch, *(p for p in (work,) if p is not None and p != scratch))
                if elapsed > command.timeout_seconds:
                    stopped = f"{command.tool} timed out after {command.timeout_seconds:g} s and was stopped"
                elif written > command.max_output_bytes:
                    stopped = f"{command.tool} wrote more than {command.max_output_bytes} bytes and was stopped"
                if stopped:
                    running.kill()
                    running.wait(KILL_WAIT_SECONDS)
                    break
        finally:
            # The leader may be gone while its children still run; none of them may outlive the run.
            running.kill()
            running.close()
        stopped = stopped or running.lost
        duration = time.monotonic() - started
        stdout = b"" if stdout_file is not None else _read(out_path, VERDICT_BYTES)
        stderr = _read(err_path, VERDICT_BYTES)
        return _Process(None if stopped else running.exit_code, stopped, stdout, stderr, duration)

    def _start(self, argv: list[str], command: ResolvedCommand, scratch: Path, out_path: Path,
               err_path: Path) -> _Running | str:
        """The command running, or why it could not start. `{python} -m module` runs in the warm host."""
        if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m" and self.python_host is not None:
            try:
                hosted = self.python_host.start(argv[2], argv[3:], str(scratch), str(out_path), str(err_path))
                return _Hosted(hosted, lambda cpu: self.children.usage.add(command.tool, command.name, cpu))
            except HostUnavailable as exc:
                log.warning("running %s without the Python host: %s", command.name, exc)
        with out_path.open("wb") as out, err_path.open("wb") as err:
            try:
                process = self.children.spawn(argv, tool=command.tool, command=command.name,
                                              stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=scratch)
            except (OSError, GuardUnavailable) as exc:
                return f"{command.tool} could not be started: {exc}"
        return _Spawned(process)

    def _judge(self, result: CommandResult, spec: VerdictSpec, done: _Process) -> CommandResult:
        stdout, stderr = (done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))
        verdict, reason = read_verdict(spec, done.exit_code, stdout, stderr)
        return _replace(result, success=verdict != "fail", verdict=verdict, reason=reason or "valid")

    def _check_output(self, result: CommandResult, command: ResolvedCommand, source: Path, work: Path,
                      expected: Path, output_dir: Path, heartbeat: Heartbeat | None) -> CommandResult:
        made = expected if expected.is_file() else _only_file(work, expected.suffix)
        if made is None:
            return _replace(result, reason=f"{command.tool} made no {expected.suffix or 'output'} file")
        size = made.stat().st_size
        if size == 0:
            return _replace(result, reason=f"{command.tool} made an empty file")
        if size > command.max_output_bytes:
            return _replace(result, reason=f"the output has {size} bytes, over the bound of {command.max_output_bytes}")
        ident = identify(made, size)
        # A match on the name alone says nothing about the bytes; only formats with no signature (plain text)
        # may be accepted that way, and only when the command names them.
        by_name_only = all(part.strip().startswith("extension match") for part in (ident.basis or "").split(";"))
        if ident.puid is None or (by_name_only and ident.puid not in command.output_puids):
            unidentified = f"the output could not be identified ({ident.warning or 'no match'})"
            if not _keeps_format(command) or identify(source, source.stat().st_size).puid != ident.puid:
                return _replace(result, reason=unidentified)
            # A command that keeps the input's format (the default access copy) cannot make it any more
            # identifiable than its original: the DIP still needs the copy, and the report says what it is.
            return self._accept(_replace(result, output_puid=ident.puid if by_name_only else None), command,
                                work, made, expected, output_dir, heartbeat,
                                f"completed; {unidentified}, as its original's")
        result = _replace(result, output_puid=ident.puid)
        if command.output_puids and ident.puid not in command.output_puids:
            return _replace(result, reason=f"the output is {ident.puid} ({ident.format_name}), not one of "
                                           f"{', '.join(command.output_puids)}")
        return self._accept(result, command, work, made, expected, output_dir, heartbeat)

    def _accept(self, result: CommandResult, command: ResolvedCommand, work: Path, made: Path, expected: Path,
                output_dir: Path, heartbeat: Heartbeat | None, reason: str = "completed") -> CommandResult:
        """The output, identified: its verifier's word, then its place in `output_dir`."""
        if command.verifier_spec is not None:
            checked = self.run(command.verifier_spec, made, heartbeat=heartbeat, scratch_dir=output_dir)
            result = _replace(result, verifier=checked)
            if not checked.success:
                return _replace(result, reason=f"{command.verifier_spec.name} refused the output: {checked.reason}")
        final = output_dir / expected.name
        outputs = [made.replace(final)]
        for extra in sorted(work.glob(f"{expected.stem}.*")):
            if extra.is_file():
                outputs.append(extra.replace(output_dir / extra.name))
        return _replace(result, success=True, reason=reason, outputs=tuple(outputs))


def _keeps_format(command: ResolvedCommand) -> bool:
    """A command whose output has its input's extension and no format of its own (a copy)."""
    return command.output_extension == "{ext}" and not command.output_puids


def _only_file(work: Path, extension: str) -> Path | None:
    """Tools that name their output themselves (LibreOffice keeps the input's name): the one file they made."""
    made = [p for p in work.iterdir() if p.is_file() and p.name.lower().endswith(extension.lower())]
    return made[0] if len(made) == 1 else None


def _with_process(result: CommandResult, done: _Process) -> CommandResult:
    return _replace(result, exit_code=done.exit_code, duration_seconds=round(done.duration, 3),
                    stdout=_excerpt(done.stdout), stderr=_excerpt(done.stderr))


def _replace(result: CommandResult, **changes: object) -> CommandResult:
    return replace(result, **changes)  # type: ignore[arg-type]
