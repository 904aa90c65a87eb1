"""Tools die with the worker, however it dies (SIGKILL included): the long-lived ones by a parent-death signal
(`die_with_parent`), the one-off ones by the worker's guard.

A parent-death signal would do it per tool, but only set in the child: with a `preexec_fn` (Python then forks the
whole worker instead of using vfork, ~20 ms in a worker of a few hundred MB) or through `setpriv` (one more exec
per run, ~1.2 ms). The guard costs two writes on a pipe per run instead: the worker tells it each tool's process
group as the tool starts (`+<pgid>`) and once it has been reaped (`-<pgid>`); the guard holds the only read end, so
when the worker is gone (its write end closed by the kernel) it reads end-of-file and kills every group still
listed. Every tool runs in a session of its own (the runner kills a timed-out tool's whole group), so one group
per run.

Between a tool's start and its `+` line the worker can die too (under load that window is milliseconds, not
microseconds), and a tool's own children can leave its group. So every one-off tool also carries the worker's mark
in its environment (`AMBER_TOOL_GUARD=<token>`, set before the exec, inherited by what the tool starts): at
end-of-file the guard also kills every process whose environment holds the mark, until none is left.

The guard is this file run by the worker's own Python, with no site and no project import (~10 ms, ~9 MB). It
ignores the terminal's signals (a session of its own) and ends only at end-of-file.

Left open: a tool's child that both leaves its group and clears its environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
MARK = "AMBER_TOOL_GUARD"


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> None:
    """For a `preexec_fn`, or a forked child: `sig` when the parent thread ends. For long-lived tools started
    once (the fork a `preexec_fn` makes costs ~20 ms in a worker of a few hundred MB) from a thread that lives as
    long as the worker."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)


# --- the guard process (standard library only: it runs with -I -S) ----------------------------------------------

def _marked(mark: bytes) -> list[int]:
    """The processes whose environment (as it was at their exec) holds `mark`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as environ:
                if mark in environ.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def serve(mark: bytes) -> None:
    groups: set[int] = set()
    buffer = b""
    while True:
        try:
            chunk = os.read(0, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line[:1] == b"+":
                groups.add(int(line[1:]))
            elif line[:1] == b"-":
                groups.discard(int(line[1:]))
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    # Tools started but not yet listed, and children gone from their tool's group. A few rounds: a marked process
    # may start another between the scan and the kill. A zombie's environment reads empty, so it is not found again.
    for _ in range(5):
        marked = [pid for pid in _marked(mark) if pid != os.getpid()]
        if not marked:
            break
        for pid in marked:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


# --- the worker's side ---------------------------------------------------------------------------------------------

def end_by_closing_stdin(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """For a helper process that ends at the end of its input (this guard, the Python host): killed if it has not
    ended `grace` seconds later."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class GuardUnavailable(RuntimeError):
    pass


class ToolGuard:
    """Thread-safe; one per worker, started at the first tool. Writes hold the lock, so that no thread writes on
    a descriptor another has just closed (and the system has perhaps given to some file)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        # Unique to this guard and any that replaces it: other workers' tools carry other tokens.
        self.token = secrets.token_hex(12)

    @property
    def mark(self) -> str:
        """`NAME=VALUE` for the environment of every tool this guard watches."""
        return f"{MARK}={self.token}"

    def _started(self) -> subprocess.Popen[bytes]:
        """Called with the lock held."""
        if self._process is None:
            try:
                # The pipe made here is inherited by no tool (Python's descriptors are close-on-exec): the worker's
                # end closes only when the worker does.
                self._process = subprocess.Popen([sys.executable, "-I", "-S", __file__, self.mark],
                                                 stdin=subprocess.PIPE,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                 start_new_session=True)
            except OSError as exc:
                raise GuardUnavailable(f"the tool guard could not start: {exc}") from exc
        return self._process

    def start(self) -> None:
        """Before a tool starts: a worker that dies between the tool's start and the guard's would leave the tool
        unguarded."""
        with self._lock:
            self._started()

    def watch(self, group: int) -> None:
        """Raises GuardUnavailable if no guard can watch `group` (the caller then kills the tool itself)."""
        with self._lock:
            for attempt in (1, 2):
                process = self._started()
                assert process.stdin is not None
                try:
                    os.write(process.stdin.fileno(), b"+%d\n" % group)
                    return
                except OSError as exc:
                    # A guard that died (killed by hand, out of memory) is replaced; the groups it listed are no
                    # longer guarded, which is logged.
                    log.warning("the tool guard stopped (%s); starting another", exc)
                    self._process = None
                    end_by_closing_stdin(process)
                    if attempt == 2:
                        raise GuardUnavailable(f"the tool guard stopped: {exc}") from exc

    def forget(self, group: int) -> None:
        with self._lock:
            process = self._process
            if process is not None and process.stdin is not None:
                with contextlib.suppress(OSError):
                    os.write(process.stdin.fileno(), b"-%d\n" % group)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            # The guard kills what it still lists and exits.
            end_by_closing_stdin(process)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.argv[1].encode())
