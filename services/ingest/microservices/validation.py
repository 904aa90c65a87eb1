"""Validation with the offline validators that exist: jpylyzer (JPEG 2000), MediaConch (Matroska), pngcheck (PNG),
qpdf (PDF). Each gives a `validation` event with Archivematica's lower-case outcome (`pass`/`partial pass`/`fail`).

Formats with no validator get no event (like Archivematica without an FPR validation rule).
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from services.ingest.microservices.results import EventSpec, FileOutcome, Status, bounded

TOOL_TIMEOUT = 600.0


@dataclass(frozen=True)
class Verdict:
    outcome: str  # pass | partial pass | fail
    result: str  # goes into the note: format="…"; result="…"
    details: str = ""


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


def _run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=TOOL_TIMEOUT, check=False,
                          preexec_fn=_die_with_parent)


def _text(result: subprocess.CompletedProcess[bytes]) -> str:
    return (result.stdout + result.stderr).decode("utf-8", "replace").strip()


def _first_line(argv: list[str]) -> str:
    try:
        lines = _text(_run(argv)).splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return lines[0].strip() if lines else "unknown"


class Validator:
    program: str = ""

    def __init__(self) -> None:
        self._version: str | None = None

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = self._find_version()
        return self._version

    def _find_version(self) -> str:
        raise NotImplementedError

    def check(self, path: Path) -> Verdict:
        raise NotImplementedError


class Jpylyzer(Validator):
    """jpylyzer in-process (no Python start-up per file); its module state is not thread-safe, hence the lock."""

    program = "jpylyzer"
    _lock = threading.Lock()

    def __init__(self, validation_format: str = "jp2") -> None:
        super().__init__()
        self.validation_format = validation_format

    def _find_version(self) -> str:
        try:
            return version("jpylyzer")
        except PackageNotFoundError:
            return "unknown"

    def check(self, path: Path) -> Verdict:
        from jpylyzer import jpylyzer

        with self._lock:
            report = jpylyzer.checkOneFile(str(path), validationFormat=self.validation_format)
        if report.findtext("isValid") == "True":
            return Verdict("pass", "valid")
        failed = [test.tag for test in report.iter() if test.text == "False" and test.tag != "isValid"]
        return Verdict("fail", "not valid", "failed tests: " + ", ".join(dict.fromkeys(failed)))


class MediaConch(Validator):
    """MediaConch's implementation checks (FFV1/Matroska): `pass! FILE` or `fail! FILE` plus reasons."""

    program = "MediaConch"

    def _find_version(self) -> str:
        return _first_line(["mediaconch", "--version"]).removeprefix("MediaConch Command Line Interface ").strip()

    def check(self, path: Path) -> Verdict:
        text = _text(_run(["mediaconch", str(path.absolute())]))
        if text.startswith("pass!"):
            return Verdict("pass", "pass")
        return Verdict("fail", "fail", " ".join(line.strip() for line in text.splitlines()[1:]))


class PngCheck(Validator):
    program = "pngcheck"

    def _find_version(self) -> str:
        line = _first_line(["pngcheck", "-h"])
        return line.split("version", 1)[1].split(" of ")[0].strip() if "version" in line else line

    def check(self, path: Path) -> Verdict:
        result = _run(["pngcheck", str(path.absolute())])
        if result.returncode == 0:
            return Verdict("pass", "valid")
        return Verdict("fail", "not valid", _text(result))


class Qpdf(Validator):
    """`qpdf --check`: exit 0 valid, 3 warnings only (a partial pass), 2 errors."""

    program = "qpdf"

    def _find_version(self) -> str:
        return _first_line(["qpdf", "--version"]).removeprefix("qpdf version ").strip()

    def check(self, path: Path) -> Verdict:
        result = _run(["qpdf", "--check", str(path.absolute())])
        if result.returncode == 0:
            return Verdict("pass", "valid")
        if result.returncode == 3:
            return Verdict("partial pass", "valid with warnings", _text(result))
        return Verdict("fail", "not valid", _text(result))


@dataclass(frozen=True)
class Rule:
    format_label: str
    make: Callable[[], Validator]


_JP2 = Rule("JPEG 2000", lambda: Jpylyzer("jp2"))
_MKV = Rule("Matroska", MediaConch)
_PNG = Rule("PNG", PngCheck)
_PDF = Rule("PDF", Qpdf)

# PRONOM id → validator. PDF: 1.0-1.7, 2.0 and the PDF/A and PDF/X families siegfried reports.
VALIDATORS: dict[str, Rule] = {
    "x-fmt/392": _JP2,
    "fmt/392": _JP2,
    "fmt/569": _MKV,
    "fmt/11": _PNG,
    "fmt/12": _PNG,
    "fmt/13": _PNG,
    **{puid: _PDF for puid in (
        "fmt/14", "fmt/15", "fmt/16", "fmt/17", "fmt/18", "fmt/19", "fmt/20", "fmt/276", "fmt/1129",
        "fmt/95", "fmt/354", "fmt/476", "fmt/477", "fmt/478", "fmt/479", "fmt/480", "fmt/481",
        "fmt/144", "fmt/145", "fmt/146", "fmt/147", "fmt/148", "fmt/157", "fmt/158", "fmt/488", "fmt/489",
    )},
}


class ValidationService:
    """Validates files by PUID; validators (and their versions) are made once and shared, thread-safe."""

    def __init__(self, registry: dict[str, Rule] | None = None) -> None:
        self.registry = registry if registry is not None else VALIDATORS
        self._validators: dict[int, Validator] = {}
        self._lock = threading.Lock()

    def _validator(self, rule: Rule) -> Validator:
        with self._lock:
            found = self._validators.get(id(rule))
            if found is None:
                found = self._validators[id(rule)] = rule.make()
            return found

    def validate(self, path: Path, puid: str | None) -> FileOutcome:
        rule = self.registry.get(puid or "")
        if rule is None:
            return FileOutcome(path, Status.SKIPPED, message=f"no validator for {puid or 'unidentified format'}")
        validator = self._validator(rule)
        try:
            verdict = validator.check(path)
            detail = f'program="{validator.program}"; version="{validator.version}"'
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            return FileOutcome(path, Status.ERROR, message=bounded(f"{validator.program} failed: {exc}", 600))
        note = f'format="{rule.format_label}"; result="{verdict.result}"'
        event = EventSpec("validation", detail, verdict.outcome, note)
        status = Status.FAILED if verdict.outcome == "fail" else Status.PASSED
        message = bounded(verdict.details, 600) if verdict.details else verdict.result
        return FileOutcome(path, status, (event,), message)

    def validate_many(self, files: Iterable[tuple[Path, str | None]]) -> list[FileOutcome]:
        return [self.validate(path, puid) for path, puid in files]
