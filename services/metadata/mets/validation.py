"""Validation of users' METS and PREMIS documents (the checking itself is `servicekit.xmlschema`'s)."""

from __future__ import annotations

from pathlib import Path

from clients.metadata.schemas import ValidationReport
from servicekit.xmlschema import validate_mets

__all__ = ["validate_document", "validate_mets"]

PREMIS_V2_NS = "info:lc/xmlns/premis-v2"


def validate_document(path: Path, max_bytes: int) -> ValidationReport:
    """Validate a user's METS or PREMIS 3 document, refusing unsafe or malformed XML with a problem."""
    from services.metadata.mets import safexml

    root_tag = ""
    for _, element in safexml.iterparse(path, max_bytes, events=("start",)):
        root_tag = element.tag
        break
    namespace = root_tag[1:].split("}")[0] if root_tag.startswith("{") else ""
    if namespace == "http://www.loc.gov/METS/":
        kind = "mets"
    elif namespace == "http://www.loc.gov/premis/v3":
        kind = "premis"
    elif namespace == PREMIS_V2_NS:
        return ValidationReport(valid=False, kind="premis", errors=[
            "line 1: PREMIS 2.2 documents are read by the import, but validated only against PREMIS 3.0"])
    else:
        return ValidationReport(valid=False, kind="unknown", errors=[
            f"line 1: the root element {root_tag or '(none)'} is neither METS nor PREMIS 3"])
    # The whole document must be well-formed before the schema speaks (a truncated upload is malformed).
    for _, element in safexml.iterparse(path, max_bytes):
        element.clear(keep_tail=False)
    errors = validate_mets(path)
    return ValidationReport(valid=not errors, kind=kind, errors=errors)
