"""Virus scanning with ClamAV through a clamd the project starts itself, spoken to over its Unix socket.

The clamd protocol is small enough to speak directly (no client dependency): `zINSTREAM\\0`, then chunks of
<4-byte big-endian length><data>, then a zero length; clamd answers `stream: OK` or `stream: <sig> FOUND`.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from services.ingest.microservices.results import EventSpec, FileOutcome, Status, bounded
from services.ingest.tool_guard import die_with_parent

CHUNK = 256 * 1024
# AF_UNIX paths are limited to 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
# With AlertExceedsMax, clamd names a file it could only partly scan with this prefix: that is "not scanned".
LIMITS_EXCEEDED = "Heuristics.Limits.Exceeded"
DEFAULT_LIMIT = 2000 * 1024 * 1024  # ClamAV cannot scan files over 2 GB at all.
MAX_SCAN_SIZE = 4000 * 1024 * 1024  # The most data clamd scans per file (what it unpacks included).


class ClamdError(RuntimeError):
    pass


@dataclass(frozen=True)
class ScanAnswer:
    """clamd's verdict on one stream: `signature` is set when infected, `error` when clamd could not scan."""

    signature: str | None = None
    error: str | None = None

    @property
    def clean(self) -> bool:
        return self.signature is None and self.error is None


class ClamdClient:
    """Talks to one clamd socket; each call opens its own connection, so one client is safe across threads."""

    def __init__(self, socket_path: Path, timeout: float = 600.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        return sock

    @staticmethod
    def _read_reply(sock: socket.socket) -> str:
        parts: list[bytes] = []
        while True:
            data = sock.recv(4096)
            if not data:
                break
            parts.append(data)
            if data.endswith(b"\0"):
                break
        return b"".join(parts).rstrip(b"\0").decode("utf-8", "replace").strip()

    def command(self, name: str) -> str:
        with self._connect() as sock:
            sock.sendall(b"z" + name.encode("ascii") + b"\0")
            return self._read_reply(sock)

    def ping(self) -> bool:
        try:
            return self.command("PING") == "PONG"
        except OSError:
            return False

    def version(self) -> str:
        """E.g. `ClamAV 1.4.6/27432/Tue Nov 18 09:25:01 2025` (no `/…` part with only custom signatures)."""
        return self.command("VERSION")

    def instream(self, path: Path) -> ScanAnswer:
        with path.open("rb") as handle, self._connect() as sock:
            # Command, chunk and terminator of a small file go in one write (fewer wake-ups of clamd per file);
            # memory stays at two chunks whatever the file size.
            pending = b"zINSTREAM\0"
            block = handle.read(CHUNK)
            while block:
                following = handle.read(CHUNK)
                pending += struct.pack(">I", len(block)) + block
                if following:
                    sock.sendall(pending)
                    pending = b""
                block = following
            sock.sendall(pending + struct.pack(">I", 0))
            reply = self._read_reply(sock)
        return parse_reply(reply)


def parse_reply(reply: str) -> ScanAnswer:
    # Everything after the last "<name>: " is the verdict; signature names never contain ": ".
    verdict = reply.rsplit(": ", 1)[-1] if ": " in reply else reply
    if verdict == "OK":
        return ScanAnswer()
    if verdict.endswith(" FOUND"):
        return ScanAnswer(signature=verdict[: -len(" FOUND")])
    return ScanAnswer(error=bounded(reply or "no answer from clamd", 500))


def _die_with_parent() -> None:
    """clamd gets SIGTERM when the thread that started it dies, so a killed worker leaves no daemon behind."""
    die_with_parent(signal.SIGTERM)


@dataclass(frozen=True)
class ClamdLimits:
    """Sizes in bytes. Files over `max_file_size` are never sent (reported as not scanned)."""

    max_file_size: int = DEFAULT_LIMIT
    max_scan_size: int = MAX_SCAN_SIZE
    stream_max_length: int = DEFAULT_LIMIT

    @classmethod
    def for_file_size(cls, size: int) -> ClamdLimits:
        """Files up to `size` bytes scanned, with room for what clamd counts on top of the file itself.

        clamd's MaxScanSize counts a container and everything unpacked from it, and the objects its type
        detection finds embedded in any file: with MaxScanSize equal to the file limit, a 1.99 GB file of random
        bytes came out "Heuristics.Limits.Exceeded.MaxScanSize" (not scanned) after being read whole, and so
        would a stored zip near the limit. Four times the file limit, as clamd's own defaults (100M, 400M), and
        never more than clamd accepts.
        """
        return cls(max_file_size=size, max_scan_size=min(4 * size, MAX_SCAN_SIZE), stream_max_length=size)

    @property
    def scannable_size(self) -> int:
        return min(self.max_file_size, self.stream_max_length)


class Clamd:
    """The project's own clamd: configured under `workdir`, started as a child, stopped (or killed with us).

    PR_SET_PDEATHSIG is tied to the *thread* that forks, so call `start()` from a long-lived thread (the main one,
    or a worker thread that lives as long as the worker), not from a throw-away thread.
    """

    def __init__(
        self,
        workdir: Path,
        database_dir: Path,
        limits: ClamdLimits | None = None,
        *,
        executable: str = "clamd",
        max_threads: int = 4,
        start_timeout: float = 120.0,
    ) -> None:
        self.workdir = workdir
        self.database_dir = database_dir
        self.limits = limits or ClamdLimits()
        self.executable = executable
        self.max_threads = max_threads
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.workdir / "clamd.sock"

    @property
    def config_path(self) -> Path:
        return self.workdir / "clamd.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "clamd.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self, timeout: float = 600.0) -> ClamdClient:
        return ClamdClient(self.socket_path, timeout)

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "tmp").mkdir(exist_ok=True)
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise ClamdError(f"clamd socket path too long for AF_UNIX ({MAX_SOCKET_PATH} bytes): {self.socket_path}")
        lines = [
            f"DatabaseDirectory {self.database_dir.resolve()}",
            f"LocalSocket {self.socket_path}",
            "LocalSocketMode 600",
            "Foreground yes",
            f"PidFile {self.workdir / 'clamd.pid'}",
            f"LogFile {self.log_path}",
            "LogTime yes",
            f"TemporaryDirectory {self.workdir / 'tmp'}",
            f"MaxThreads {self.max_threads}",
            f"MaxFileSize {self.limits.max_file_size}",
            f"MaxScanSize {self.limits.max_scan_size}",
            f"StreamMaxLength {self.limits.stream_max_length}",
            # A file clamd could only partly scan must not come back as clean.
            "AlertExceedsMax yes",
            "SelfCheck 0",
        ]
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.config_path

    def start(self) -> None:
        if self.running:
            return
        self.write_config()
        self.socket_path.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [self.executable, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        client = self.client(timeout=5.0)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode("utf-8", "replace") if self._process.stderr else ""
                self._process = None
                raise ClamdError(f"clamd exited at start-up: {bounded(err + self._log_tail(), 1500)}")
            if self.socket_path.exists() and client.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise ClamdError(f"clamd did not answer PING within {self.start_timeout:.0f} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(max(0, handle.seek(0, os.SEEK_END) - 1000))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr:
            process.stderr.close()
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> Clamd:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def event_detail(version_reply: str) -> str:
    """Archivematica's detail: `program="ClamAV (clamd)"; version="ClamAV 1.4.6"; virusDefinitions="27432/<date>"`."""
    version, _, definitions = version_reply.partition("/")
    return f'program="ClamAV (clamd)"; version="{version}"; virusDefinitions="{definitions}"'


NOT_SCANNED = "Not scanned"


def not_scanned(path: Path, reason: str, detail: str = 'program="ClamAV (clamd)"') -> FileOutcome:
    """A file the scanner did not judge: reported as such, with a `virus check` event whose outcome says so."""
    return FileOutcome(path, Status.SKIPPED, (EventSpec("virus check", detail, NOT_SCANNED, reason),),
                       f"not scanned: {reason}")


class VirusScanner:
    """Scans files through a clamd; thread-safe (one connection per file)."""

    def __init__(self, client: ClamdClient, limits: ClamdLimits) -> None:
        self.client = client
        self.limits = limits
        self._detail: str | None = None

    @property
    def detail(self) -> str:
        if self._detail is None:
            self._detail = event_detail(self.client.version())
        return self._detail

    def scan(self, path: Path) -> FileOutcome:
        try:
            size = path.stat().st_size
        except OSError as exc:
            return FileOutcome(path, Status.ERROR, message=f"scan error: {exc.strerror or exc}")
        limit = self.limits.scannable_size
        if size > limit:
            # Archivematica records nothing for a file it skips; we say so in the record, so that no reader of
            # the AIP can take silence for a clean result.
            return not_scanned(path, f"over the scanner's limit of {limit} bytes ({size} bytes)", self.detail)
        try:
            answer = self.client.instream(path)
        except OSError as exc:
            return FileOutcome(path, Status.ERROR, message=f"scan error: {exc.strerror or exc}")
        if answer.error is not None:
            return FileOutcome(path, Status.ERROR, message=f"scan error: {answer.error}")
        if answer.signature is not None and answer.signature.startswith(LIMITS_EXCEEDED):
            return not_scanned(path, f"clamd limit reached ({answer.signature})", self.detail)
        if answer.signature is not None:
            event = EventSpec("virus check", self.detail, "Fail", answer.signature)
            return FileOutcome(path, Status.FAILED, (event,), f"infected: {answer.signature}")
        return FileOutcome(path, Status.PASSED, (EventSpec("virus check", self.detail, "Pass", ""),))

    def scan_many(self, paths: Iterable[Path], workers: int = 4) -> list[FileOutcome]:
        """Scan in `workers` parallel connections (clamd scans each on its own thread), results in input order.

        Keep `workers` at most clamd's MaxThreads.
        """
        if workers <= 1:
            return [self.scan(path) for path in paths]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(self.scan, paths))
