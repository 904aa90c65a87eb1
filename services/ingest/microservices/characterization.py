"""Characterization: ExifTool (one long-running `-stay_open` process), MediaInfo and FFprobe, chosen by format.

The XML each tool prints is kept, bounded, for the PREMIS `objectCharacteristicsExtension`. Archivematica records
no PREMIS event for characterization, so none is returned.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from xml.sax.saxutils import escape

from services.ingest.child_processes import ChildProcesses
from services.ingest.microservices.results import FileOutcome, Status, bounded
from services.ingest.tool_guard import GuardUnavailable, die_with_parent

MAX_OUTPUT = 1024 * 1024
TRUNCATED_TAG = "amberTruncatedOutput"
TOOL_TIMEOUT = 300.0

# Audio and video by PUID (WAV, BWF, AIFF, MP3, FLAC, Ogg, WMA/WMV, MP4, QuickTime, AVI, Matroska, WebM, MPEG…).
AV_PUIDS = frozenset({
    "fmt/1", "fmt/2", "fmt/6", "fmt/141", "fmt/142", "fmt/143", "fmt/527", "fmt/703", "fmt/704", "fmt/705",
    "fmt/706", "fmt/707", "fmt/708", "fmt/709", "fmt/710", "fmt/711", "x-fmt/135", "x-fmt/136", "fmt/414",
    "fmt/134", "x-fmt/397", "fmt/279", "fmt/203", "fmt/946", "fmt/132", "fmt/131", "fmt/133", "fmt/199",
    "fmt/596", "x-fmt/384", "fmt/5", "fmt/569", "fmt/573", "fmt/649", "fmt/640", "fmt/585", "fmt/104",
    "fmt/105", "fmt/106", "fmt/1507", "fmt/337", "fmt/197", "fmt/198", "fmt/1508", "x-fmt/382", "fmt/441",
})
AV_NAME_WORDS = ("audio", "video", "wave", "waveform", "matroska", "quicktime", "mpeg", "flac", "ogg", "avi",
                 "windows media", "webm", "aiff", "mp4", "mp3")
AV_EXTENSIONS = frozenset({".wav", ".aif", ".aiff", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".wma", ".wmv",
                           ".mp4", ".m4a", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".mxf"})


@dataclass(frozen=True)
class ToolOutput:
    tool: str
    version: str
    text: str
    truncated: bool = False


@dataclass(frozen=True)
class Characterization:
    outcome: FileOutcome
    outputs: tuple[ToolOutput, ...] = ()


def is_audio_video(path: Path, puid: str | None, format_name: str | None) -> bool:
    if puid in AV_PUIDS:
        return True
    if format_name and format_name != "Unknown":
        lowered = format_name.lower()
        return any(word in lowered for word in AV_NAME_WORDS)
    return path.suffix.lower() in AV_EXTENSIONS


def _cap(data: bytes) -> tuple[str, bool]:
    """At most MAX_OUTPUT bytes of tool output; a cut document is escaped into one element so it stays XML."""
    if len(data) <= MAX_OUTPUT:
        return data.decode("utf-8", "replace"), False
    cut = escape(data[:MAX_OUTPUT].decode("utf-8", "ignore"))
    return f'<{TRUNCATED_TAG} bytes="{len(data)}" kept="{MAX_OUTPUT}">{cut}</{TRUNCATED_TAG}>', True


def _xml_or_error(output: ToolOutput) -> tuple[ToolOutput, str]:
    """Drop the error/warning lines a tool printed before its XML; no XML at all means the tool failed."""
    start = output.text.find("<")
    if start < 0:
        raise ToolError(f"{output.tool}: {bounded(output.text, 300) or 'no output'}")
    if start == 0:
        return output, ""
    chatter = bounded(output.text[:start], 300)
    return ToolOutput(output.tool, output.version, output.text[start:], output.truncated), f"{output.tool}: {chatter}"


def _version(argv: list[str], first_line: bool = False) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = out.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return "unknown"
    return (lines[0] if first_line else lines[-1]).strip()


class ToolError(RuntimeError):
    pass


class ExifTool:
    """One `exiftool -stay_open True -@ -` process, fed one file at a time; restarted if it dies or hangs.

    Calls are serialized with a lock, so one instance can be shared by the threads of a worker.
    """

    def __init__(self, executable: str = "exiftool", timeout: float = TOOL_TIMEOUT, version: str | None = None) -> None:
        self.executable = executable
        self.timeout = timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._counter = itertools.count(1)
        self.version = version or _version([executable, "-ver"])
        self.starts = 0
        # One watchdog thread for the life of the instance, not a timer thread per file (~0.2 ms each).
        self._deadline: float | None = None
        self._watched: subprocess.Popen[bytes] | None = None
        self._watchdog: threading.Thread | None = None

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        self._watched, self._deadline = process, time.monotonic() + self.timeout
        if self._watchdog is None or not self._watchdog.is_alive():
            self._watchdog = threading.Thread(target=self._guard, name="exiftool-watchdog", daemon=True)
            self._watchdog.start()

    def _guard(self) -> None:
        while self._process is not None or self._deadline is not None:
            deadline, process = self._deadline, self._watched
            if deadline is not None and process is not None and time.monotonic() > deadline:
                with contextlib.suppress(OSError):
                    process.kill()
            time.sleep(min(1.0, self.timeout / 4))

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._process = subprocess.Popen(
            # -charset filename=utf8 keeps names with non-ASCII characters readable by ExifTool.
            [self.executable, "-stay_open", "True", "-@", "-", "-common_args", "-charset", "filename=utf8"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        self.starts += 1
        return self._process

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if process is not None:
            for stream in (process.stdin, process.stdout):
                if stream:
                    with contextlib.suppress(OSError):
                        stream.close()

    def close(self) -> None:
        with self._lock:
            process = self._process
            if process is not None and process.poll() is None and process.stdin:
                with contextlib.suppress(OSError):
                    process.stdin.write(b"-stay_open\nFalse\n")
                    process.stdin.flush()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)
            self._kill()

    def __enter__(self) -> ExifTool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def characterize(self, path: Path) -> ToolOutput:
        """ExifTool's RDF/XML (`-X`) for `path`, as Archivematica keeps it."""
        raw = os.fsencode(path.absolute())
        if b"\n" in raw:
            # The argument file is line-based; such a name goes to a one-off process.
            result = subprocess.run([self.executable, "-X", "--", raw], capture_output=True, timeout=self.timeout,
                                    check=False)
            text, truncated = _cap(result.stdout)
            return ToolOutput("ExifTool", self.version, text, truncated)
        with self._lock:
            for attempt in (1, 2):
                try:
                    return self._ask(raw)
                except (OSError, ToolError):
                    self._kill()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _ask(self, raw: bytes) -> ToolOutput:
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        number = next(self._counter)
        marker = f"{{ready{number}}}".encode()
        process.stdin.write(b"-X\n" + raw + b"\n" + f"-execute{number}\n".encode())
        process.stdin.flush()
        # A file that makes ExifTool hang must not hang the worker: the watchdog kills it, the read then ends.
        self._watch(process)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                line = process.stdout.readline(65536)
                if not line:
                    raise ToolError("exiftool stopped answering")
                if line.rstrip(b"\r\n") == marker:
                    break
                if size <= MAX_OUTPUT:
                    chunks.append(line)
                    size += len(line)
        finally:
            self._deadline = None
        text, truncated = _cap(b"".join(chunks))
        return ToolOutput("ExifTool", self.version, text, truncated)


class ExifToolPool:
    """Several ExifTool processes, so that the worker's threads characterize side by side: one process answers
    one file at a time (~2 ms of Perl per file), which alone would cap a worker near 500 files per second on one
    core. Each process starts at its first use."""

    def __init__(self, size: int = 0, executable: str = "exiftool") -> None:
        size = size or min(4, os.cpu_count() or 1)
        first = ExifTool(executable)
        self.version = first.version
        self._all = [first, *(ExifTool(executable, version=first.version) for _ in range(size - 1))]
        self._free: queue.SimpleQueue[ExifTool] = queue.SimpleQueue()
        for tool in self._all:
            self._free.put(tool)

    @property
    def starts(self) -> int:
        return sum(tool.starts for tool in self._all)

    def characterize(self, path: Path) -> ToolOutput:
        tool = self._free.get()
        try:
            return tool.characterize(path)
        finally:
            self._free.put(tool)

    def close(self) -> None:
        for tool in self._all:
            tool.close()


def _run_capped(children: ChildProcesses, tool: str, version: str, argv: list[str]) -> ToolOutput:
    try:
        result = children.run(argv, tool=tool, command="characterize", timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{tool} timed out after {TOOL_TIMEOUT:.0f} s") from exc
    except GuardUnavailable as exc:
        raise ToolError(f"{tool} could not be started: {exc}") from exc
    if result.returncode != 0:
        raise ToolError(f"{tool} exit {result.returncode}: {bounded(result.stderr.decode('utf-8', 'replace'), 300)}")
    text, truncated = _cap(result.stdout)
    return ToolOutput(tool, version, text, truncated)


class Characterizer:
    """Chooses and runs the tools for a file; thread-safe (each ExifTool is locked, the others are one-shot)."""

    def __init__(self, exiftool: ExifTool | ExifToolPool | None = None, children: ChildProcesses | None = None) -> None:
        self.exiftool = exiftool or ExifToolPool()
        # Given the worker's child processes, the characterizer leaves them to their owner.
        self._own_children = children is None
        self.children = children or ChildProcesses()
        self.mediainfo_version = _version(["mediainfo", "--Version"])
        self.ffprobe_version = _version(["ffprobe", "-version"], first_line=True)

    def close(self) -> None:
        self.exiftool.close()
        if self._own_children:
            self.children.close()

    def mediainfo(self, path: Path) -> ToolOutput:
        argv = ["mediainfo", "--Output=XML", str(path.absolute())]
        return _run_capped(self.children, "MediaInfo", self.mediainfo_version, argv)

    def ffprobe(self, path: Path) -> ToolOutput:
        argv = ["ffprobe", "-v", "error", "-print_format", "xml", "-show_format", "-show_streams", str(path.absolute())]
        return _run_capped(self.children, "FFprobe", self.ffprobe_version, argv)

    def characterize(self, path: Path, puid: str | None = None, format_name: str | None = None) -> Characterization:
        if is_audio_video(path, puid, format_name):
            steps = [self.mediainfo, self.ffprobe]
        else:
            steps = [self.exiftool.characterize]
        outputs: list[ToolOutput] = []
        errors: list[str] = []
        for step in steps:
            try:
                output, chatter = _xml_or_error(step(path))
            except (OSError, ToolError, subprocess.SubprocessError) as exc:
                errors.append(str(exc))
                continue
            outputs.append(output)
            if chatter:
                errors.append(chatter)
        if errors and not outputs:
            return Characterization(FileOutcome(path, Status.ERROR, message=bounded("; ".join(errors), 600)))
        names = ", ".join(o.tool for o in outputs)
        message = f"characterized with {names}" + (f" (errors: {bounded('; '.join(errors), 400)})" if errors else "")
        return Characterization(FileOutcome(path, Status.PASSED, message=message), tuple(outputs))

    def characterize_many(self, files: Iterable[tuple[Path, str | None, str | None]]) -> list[Characterization]:
        return [self.characterize(path, puid, name) for path, puid, name in files]
