"""Package names as they appear on disk: Archivematica's rule of safe characters."""

from __future__ import annotations

import re
import unicodedata

_UNSAFE = re.compile(r"[^A-Za-z0-9_.()-]")


def sanitize_package_name(name: str) -> str:
    """Transliterate to ASCII, then replace anything outside `[A-Za-z0-9-_.()]` with `_`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = _UNSAFE.sub("_", ascii_name).strip(".")
    return cleaned[:200] or "package"
