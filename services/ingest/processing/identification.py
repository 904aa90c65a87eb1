"""Format identification with Siegfried (pygfried, PRONOM signatures built in), or FIDO when configured."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygfried

from services.ingest.processing.siegfried import SiegfriedError, SiegfriedProcess


@dataclass(frozen=True)
class Identification:
    puid: str | None
    format_name: str
    format_version: str | None
    basis: str | None
    warning: str | None


UNIDENTIFIED = Identification(puid=None, format_name="Unknown", format_version=None, basis=None, warning=None)


@functools.cache
def siegfried_version() -> str:
    """Asked once: every identified file's event names it, and each question is a call into Go."""
    return str(pygfried.version())


# Siegfried's calls go to a process of its own (see siegfried.py); it ends with this one.
SIEGFRIED = SiegfriedProcess()
atexit.register(SIEGFRIED.close)

EMPTY = Identification(None, "Unknown", None, None, "empty file")


def identify(path: Path, size: int) -> Identification:
    if size == 0:
        # Siegfried refuses empty files; an empty file has no format to find.
        return EMPTY
    try:
        result = SIEGFRIED.identify(str(path))
    except SiegfriedError as exc:  # Siegfried refuses some damaged files (GoError); that is "not identified"
        return Identification(None, "Unknown", None, None, f"Siegfried could not read the file: {exc}"[:500])
    return _identification(result["files"][0]["matches"] if result.get("files") else [])


def identify_many(files: Sequence[tuple[Path, int]]) -> list[Identification]:
    """`identify` of each file, in one call into Siegfried: ~0.2 instead of ~0.3 ms of CPU per file, most of the
    difference the Go runtime's own threads waking for each call. A file Siegfried reports an error for, or a
    group it refuses, is identified alone, so that every answer is the one `identify` gives."""
    names = [str(path) for path, size in files if size > 0]
    try:
        found = SIEGFRIED.identify_many(names)["files"] if names else []
    except SiegfriedError:
        found = []
    if [result.get("filename") for result in found] != names:
        return [identify(path, size) for path, size in files]
    answers = iter(found)
    identified = []
    for path, size in files:
        result = next(answers) if size > 0 else None
        if result is None or result["errors"]:
            identified.append(identify(path, size))
        else:
            identified.append(_identification(result["matches"]))
    return identified


def _identification(matches: list[pygfried.Match]) -> Identification:
    """The PRONOM match among one file's matches in Siegfried's answer."""
    match = next((m for m in matches if m.get("ns") == "pronom"), None)
    if match is None or match.get("id") in (None, "", "UNKNOWN"):
        warning = match.get("warning") if match else None
        return Identification(None, "Unknown", None, None, warning or None)
    return Identification(
        puid=match["id"],
        format_name=match.get("format") or "Unknown",
        format_version=match.get("version") or None,
        basis=match.get("basis") or None,
        warning=match.get("warning") or None,
    )


class _FidoState(threading.local):
    """FIDO keeps per-file state on its object, so each worker thread gets its own (signatures load in ~0.1 s)."""

    fido: Any = None
    matches: list[tuple[Any, str]]
    matchtype: str = ""


_FIDO = _FidoState()


def fido_version() -> str:
    from fido import __version__

    return str(__version__)


def _fido() -> Any:
    if _FIDO.fido is None:
        from fido import CONFIG_DIR
        from fido.fido import Fido
        from fido.versions import get_local_versions

        versions = get_local_versions(CONFIG_DIR)

        def keep(_name: str, matches: list[tuple[Any, str]], _delta: float, matchtype: str = "") -> None:
            _FIDO.matches, _FIDO.matchtype = matches, matchtype

        _FIDO.fido = Fido(
            quiet=True, handle_matches=keep,
            format_files=[versions.pronom_signature, versions.fido_extension_signature],
            containersignature_file=versions.pronom_container_signature,
        )
    return _FIDO.fido


def identify_with_fido(path: Path, size: int) -> Identification:
    """FIDO (PRONOM signatures and container signatures, then the extension); the first match wins, as in
    Archivematica."""
    if size == 0:
        return Identification(None, "Unknown", None, None, "empty file")
    fido = _fido()
    _FIDO.matches, _FIDO.matchtype = [], ""
    with contextlib.redirect_stderr(io.StringIO()) as chatter:  # FIDO reports its errors on stderr
        fido.identify_file(str(path))
    if not _FIDO.matches:
        return Identification(None, "Unknown", None, None, chatter.getvalue().strip()[:500] or None)
    form, signature = _FIDO.matches[0]

    def text(tag: str) -> str | None:
        element = form.find(tag)
        return element.text if element is not None and element.text else None

    basis = f"{_FIDO.matchtype}: {signature}" if _FIDO.matchtype else signature
    warning = "match on extension only" if _FIDO.matchtype == "extension" else None
    return Identification(puid=text("puid"), format_name=text("name") or "Unknown", format_version=text("version"),
                          basis=basis[:2000], warning=warning)
