"""The placeholders a command's argv may hold (see `clients/ingest/fpr.py`). Only these names are replaced, by
plain substitution inside each argument, so braces that belong to a tool (LibreOffice's JSON filter options)
pass through untouched and no argument is ever split or interpreted by a shell."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

PLACEHOLDERS = frozenset({"input", "output", "output_dir", "basename", "name", "tmp", "data", "python"})
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def unknown_placeholders(argv: Iterable[str]) -> list[str]:
    return sorted({f"{{{m}}}" for arg in argv for m in _PLACEHOLDER.findall(arg) if m not in PLACEHOLDERS})


def render(argv: Iterable[str], values: Mapping[str, str]) -> list[str]:
    return [_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), arg) for arg in argv]
