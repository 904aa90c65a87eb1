"""Parsing XML that users supply, safely: no DTDs (so no entities, internal or external), no network, bounded size.

Every document a user hands in (an uploaded METS or PREMIS file, a custom structMap, a transfer's premis.xml)
goes through here. A document type declaration is refused outright before libxml2 parses anything: it is the
only way to declare entities, so refusing it closes billion-laughs expansion and external-entity reads at once,
with an error that says so rather than a parser message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from servicekit.problems import Problem

PROLOG_BYTES = 64 * 1024
# The prolog may hold the XML declaration, comments, processing instructions and whitespace before the root.
_PROLOG_SKIP = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->)", re.S)
UNSAFE_TYPE = "https://amber.example/problems/unsafe-xml"
MALFORMED_TYPE = "https://amber.example/problems/malformed-xml"


def unsafe(detail: str) -> Problem:
    return Problem(400, "Unsafe XML refused", detail, type_=UNSAFE_TYPE)


def malformed(errors: list[str]) -> Problem:
    return Problem(
        400, "Malformed XML", errors[0] if errors else "not well-formed", type_=MALFORMED_TYPE,
        errors=[{"msg": error} for error in errors[:100]],
    )


def too_large(limit: int) -> Problem:
    return Problem(413, "Document too large", f"XML documents are accepted up to {limit} bytes")


def _decode_head(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="ignore")
    return head.decode("utf-8", errors="ignore")


def check_prolog(head: bytes) -> None:
    """Refuse a document whose prolog declares a document type (and with it, entities)."""
    text = _decode_head(head).lstrip("\ufeff")
    position = 0
    while match := _PROLOG_SKIP.match(text, position):
        if match.end() == position:
            break
        position = match.end()
    rest = text[position:].lstrip()
    if rest[:9].upper() == "<!DOCTYPE":
        raise unsafe("Document type declarations are not accepted (they can declare entities: external entities "
                     "and entity expansion such as 'billion laughs' are refused)")


def check_file(path: Path, max_bytes: int) -> None:
    size = path.stat().st_size
    if size > max_bytes:
        raise too_large(max_bytes)
    with path.open("rb") as handle:
        check_prolog(handle.read(PROLOG_BYTES))


def parser(**options: Any) -> etree.XMLParser:
    """The one parser configuration for untrusted XML (entity refs kept unresolved, no DTD, no network)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, **options)


def _reject_dtd(tree: etree._ElementTree) -> None:
    # A second line of defence behind check_prolog: whatever got through must not carry a DTD.
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise unsafe("Document type declarations are not accepted")


def parse_bytes(data: bytes, max_bytes: int, **options: Any) -> etree._Element:
    """Parse a small document held in memory (e.g. a structMap of a few MB); `options` go to the parser."""
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    check_prolog(data[:PROLOG_BYTES])
    try:
        root = etree.fromstring(data, parser(**options))
    except etree.XMLSyntaxError as exc:
        raise malformed(syntax_errors(exc)) from exc
    _reject_dtd(root.getroottree())
    return root


def syntax_errors(exc: etree.XMLSyntaxError) -> list[str]:
    errors = [f"line {error.line}: {error.message.strip()}" for error in exc.error_log]
    return errors or [f"line {exc.lineno}: {exc.msg}"]


def iterparse(path: Path, max_bytes: int, *, events: tuple[str, ...] = ("end",),
              tag: Any = None) -> Iterator[tuple[str, Any]]:
    """Stream a document's elements; the caller clears them. Raises problems for unsafe or malformed input."""
    check_file(path, max_bytes)
    options: dict[str, Any] = {"events": events, "resolve_entities": False, "no_network": True,
                               "load_dtd": False, "huge_tree": True}
    if tag is not None:
        options["tag"] = tag
    try:
        yield from etree.iterparse(str(path), **options)
    except etree.XMLSyntaxError as exc:
        raise malformed(syntax_errors(exc)) from exc
