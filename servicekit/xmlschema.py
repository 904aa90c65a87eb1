"""Offline XSD validation of METS (and PREMIS 3) documents against the schemas vendored in `servicekit/schemas/`.

Shared by the metadata service (users' documents), the ingest worker (every AIP METS before the AIP is stored) and
intake (a transfer's `metadata/mets_structmap.xml`). The schemas are found through the OASIS catalog beside them by
an lxml resolver of our own, so validation works in-process with no network and regardless of the caller's
`XML_CATALOG_FILES` (libxml2 reads that variable only once, so it cannot be relied upon inside a running process).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from pathlib import Path
from typing import IO, Any

from lxml import etree

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
CATALOG = SCHEMAS_DIR / "catalog.xml"
CATALOG_NS = "{urn:oasis:names:tc:entity:xmlns:xml:catalog}"

# One schema that pulls in every vocabulary an AIP METS embeds. METS wraps its metadata in lax wildcards,
# which validate an element only when its schema is known: importing PREMIS 3 and DC here is what makes the
# embedded PREMIS objects, events and agents (and DC records) checked strictly rather than skipped.
AIP_METS_DRIVER = b"""<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:import namespace="http://www.loc.gov/METS/"
             schemaLocation="http://www.loc.gov/standards/mets/version1121/mets.xsd"/>
  <xs:import namespace="http://www.loc.gov/premis/v3"
             schemaLocation="http://www.loc.gov/standards/premis/v3/premis.xsd"/>
  <xs:import namespace="http://purl.org/dc/terms/"
             schemaLocation="http://dublincore.org/schemas/xmls/qdc/2008/02/11/dcterms.xsd"/>
  <xs:import namespace="http://purl.org/dc/elements/1.1/"
             schemaLocation="http://dublincore.org/schemas/xmls/qdc/2008/02/11/dc.xsd"/>
</xs:schema>
"""

_lock = threading.Lock()


def catalog_entries(catalog: Path = CATALOG) -> dict[str, Path]:
    """The catalog's `system` (and `uri`) entries: public URL -> local file."""
    entries: dict[str, Path] = {}
    tree = etree.parse(str(catalog), etree.XMLParser(no_network=True, resolve_entities=False))
    for element in tree.iter(f"{CATALOG_NS}system", f"{CATALOG_NS}uri"):
        base = catalog.parent
        for ancestor in reversed(list(element.iterancestors())):
            if xml_base := ancestor.get("{http://www.w3.org/XML/1998/namespace}base"):
                base = (base / xml_base).resolve()
        key = element.get("systemId") or element.get("name")
        uri = element.get("uri")
        if key and uri:
            entries[key] = (base / uri).resolve()
    return entries


class CatalogResolver(etree.Resolver):
    """Serves the public schema URLs from the vendored copies; anything else is left to lxml (no network)."""

    def __init__(self, entries: dict[str, Path]) -> None:
        super().__init__()
        self.entries = entries

    def resolve(self, system_url: str | None, public_id: str | None, context: Any) -> Any:
        path = self.entries.get(system_url or "")
        if path is None:
            return None
        return self.resolve_filename(str(path), context)


@functools.cache
def aip_mets_schema() -> etree.XMLSchema:
    """METS 1.12.1 + PREMIS 3.0 + DC, compiled once per process from the vendored files only."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(CatalogResolver(catalog_entries()))
    driver = etree.fromstring(AIP_METS_DRIVER, parser, base_url=str(SCHEMAS_DIR / "aip-mets-driver.xsd"))
    return etree.XMLSchema(driver)


TREE_LIMIT_BYTES = 64 * 1024 * 1024
"""Documents up to this size are validated as a tree, which gives every error its line. Larger ones are validated
while streaming through the parser (memory stays flat, but libxml2 then reports schema errors without lines)."""


def validate_mets(source: str | os.PathLike[str] | IO[bytes], *, tree_limit: int = TREE_LIMIT_BYTES) -> list[str]:
    """Errors of the METS (or PREMIS) document at `source` (a path or a binary file object), each with its line.

    An empty list means the document is well-formed and valid. Entities are never resolved, no DTD is loaded and
    nothing is fetched from the network.
    """
    if isinstance(source, (str, os.PathLike)) and os.path.getsize(source) > tree_limit:
        return _validate_streaming(os.fspath(source))
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False, huge_tree=True)
    try:
        document = etree.parse(os.fspath(source) if isinstance(source, os.PathLike) else source, parser)
    except etree.XMLSyntaxError as exc:
        errors = [f"line {error.line}: {error.message}" for error in exc.error_log]
        return errors or [f"line {exc.lineno}: {exc.msg}"]
    schema = aip_mets_schema()
    # An XMLSchema keeps its error log on the object, so concurrent validations must not interleave.
    with _lock:
        if schema.validate(document):
            return []
        return [f"line {error.line}: {error.message}" for error in schema.error_log]


STREAM_CLEARED = (
    "{http://www.loc.gov/METS/}*",
    *(f"{{http://www.loc.gov/premis/v3}}{entity}"
      for entity in ("premis", "object", "event", "agent", "rightsStatement")),
)
"""Elements emptied as soon as they end while a document is validated streaming: every METS element, and the
PREMIS entities a PREMIS document (root premis:premis) is a list of."""


def _validate_streaming(path: str) -> list[str]:
    """Schema validation during an iterparse that clears every element once read: flat memory at any size."""
    return validate_mets_stream(path)


def validate_mets_stream(source: str | IO[bytes]) -> list[str]:
    """Errors of the METS (or PREMIS) document at `source` (a path, or a binary stream such as a pipe the document
    is written to as it is downloaded), found as it is read, in flat memory; libxml2 gives no lines this way.

    No lock: a parse with a schema gets a validation context of its own (the shared XMLSchema is only read), and
    its errors are the parser's; only the tree validation uses the schema object's error log.
    """
    schema = aip_mets_schema()
    etree.clear_error_log()
    if isinstance(source, str):
        with open(source, "rb") as handle:
            return _stream(HeadChecked(handle), schema)
    return _stream(HeadChecked(source), schema)


PROLOG_BYTES = 64 * 1024
_PROLOG_SKIP = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->)", re.S)


class DoctypeRefused(ValueError):
    pass


class HeadChecked:
    """A binary stream whose prolog is read first and refused if it declares a document type.

    The streaming validation resolves internal entities: told not to (`resolve_entities=False`) with a schema
    plugged in, lxml loses the parser's error at a premature end and a truncated document passes. With no DTD
    there is nothing to resolve, so refusing one keeps entity expansion out as the option did.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.head: bytes | None = None

    def read(self, size: int = -1) -> bytes:
        if self.head is None:
            self.head = self.raw.read(PROLOG_BYTES)
            if _declares_doctype(self.head):
                raise DoctypeRefused("document type declarations are not accepted")
        if self.head:
            served = self.head if size < 0 else self.head[:size]
            self.head = self.head[len(served):]
            return served
        return self.raw.read(size)


def _declares_doctype(head: bytes) -> bool:
    text = (head.decode("utf-16", errors="ignore") if head.startswith((b"\xff\xfe", b"\xfe\xff"))
            else head.decode("utf-8", errors="ignore")).lstrip("\ufeff")
    position = 0
    while (match := _PROLOG_SKIP.match(text, position)) and match.end() > position:
        position = match.end()
    return text[position:].lstrip()[:9].upper() == "<!DOCTYPE"


def _stream(source: HeadChecked, schema: etree.XMLSchema) -> list[str]:
    # libxml2 validates as it parses (the schema is plugged into the SAX parser), so the tree lxml builds is not
    # needed: each element is emptied when it ends and its finished siblings are dropped, or their empty shells
    # would add up (100,000 files: 80 MB peak instead of 96 MB, and flat beyond; a tree takes ~4.4 GB).
    # Only METS elements and whole PREMIS entities are handed to Python to be emptied, which empties what they
    # hold: the other ~80% of an AIP METS's elements (PREMIS fields, tool output) cost a Python step each, a third
    # of the validation's time. What stays in memory at once is one mdWrap's content, or one PREMIS entity's.
    try:
        for _, element in etree.iterparse(source, events=("end",), tag=STREAM_CLEARED, schema=schema,
                                          no_network=True, load_dtd=False, huge_tree=True):
            element.clear(keep_tail=False)
            parent = element.getparent()
            if parent is not None and len(parent) > 1:
                del parent[:-1]
    except etree.XMLSyntaxError as exc:
        errors = [
            f"line {error.line or '?'}: {error.message}"
            for error in exc.error_log
            if error.domain_name != "SCHEMASP"  # the driver's own compile-time notices, not the document's
        ]
        return errors or [f"line {exc.lineno}: {exc.msg}"]
    except DoctypeRefused as exc:
        return [f"line ?: {exc}"]
    return []


METS_NS = "http://www.loc.gov/METS/"
STRUCTMAP_TREE_LIMIT = 64 * 1024 * 1024


def validate_structmap(path: str | os.PathLike[str]) -> list[str]:
    """Errors of a transfer's `mets_structmap.xml`: a whole METS document, or (as many are written) one
    mets:structMap, or several under another root, each checked as the one structMap of a METS document."""
    if os.path.getsize(path) > STRUCTMAP_TREE_LIMIT:
        return validate_mets(path)
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False, huge_tree=True)
    try:
        root = etree.parse(os.fspath(path), parser).getroot()
    except etree.XMLSyntaxError as exc:
        syntax = [f"line {error.line}: {error.message}" for error in exc.error_log]
        return syntax or [f"line {exc.lineno}: {exc.msg}"]
    if root.tag == f"{{{METS_NS}}}mets":
        return _validate_tree(etree.ElementTree(root))
    structmaps = [root] if root.tag == f"{{{METS_NS}}}structMap" else list(root.iter(f"{{{METS_NS}}}structMap"))
    if not structmaps:
        return [f"line {root.sourceline}: the document holds no mets:structMap (root element {root.tag})"]
    errors: list[str] = []
    for structmap in structmaps:
        wrapper = etree.Element(f"{{{METS_NS}}}mets", nsmap={"mets": METS_NS})
        wrapper.append(structmap)  # keeps its source lines, which the errors then give
        errors.extend(_validate_tree(etree.ElementTree(wrapper)))
    return errors


def _validate_tree(document: etree._ElementTree) -> list[str]:
    schema = aip_mets_schema()
    with _lock:
        if schema.validate(document):
            return []
        return [f"line {error.line}: {error.message}" for error in schema.error_log]
