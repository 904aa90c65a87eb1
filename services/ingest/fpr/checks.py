"""Structural checks Amber ships for formats whose usual tools do not notice damage, run by registry commands as
`{python} -m services.ingest.fpr.checks <check> <file>`: exit 0 and `valid`, or exit 1 and the reason.

- `riff`: WAV/AVI/WebP (RIFF, little-endian) and AIFF (IFF FORM, big-endian) chunk walk. Decoders read a WAV
  whose chunk sizes disagree with its bytes and stop quietly; the walk checks that the container length matches the
  file, that every chunk fits, and that the format chunk comes before the sample data.
- `xml`: well-formedness with lxml (no network, no entity expansion).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

# At the top, not in `xml`: the worker's Python host imports this module once and forks a child per run, so an
# import here is paid once per worker; inside the function every run paid it again (~20 ms of CPU per XML file).
from lxml import etree

# container id → (byte order, chunk that must come first, data chunk)
_CONTAINERS = {b"RIFF": ("<", {b"WAVE": (b"fmt ", b"data")}), b"FORM": (">", {b"AIFF": (b"COMM", b"SSND"),
                                                                              b"AIFC": (b"COMM", b"SSND")})}


def riff(path: Path) -> str | None:
    """None when the container is sound, else why not."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] not in _CONTAINERS:
            return "not a RIFF or IFF container"
        order, kinds = _CONTAINERS[header[:4]]
        declared = struct.unpack(f"{order}I", header[4:8])[0]
        if declared + 8 != size:
            return f"the container declares {declared + 8} bytes but the file has {size}"
        form = header[8:12]
        first, data = kinds.get(form, (None, None))
        seen: list[bytes] = []
        offset = 12
        while offset < size:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return f"a chunk header is cut short at byte {offset}"
            name, length = chunk[:4], struct.unpack(f"{order}I", chunk[4:8])[0]
            end = offset + 8 + length + (length % 2)
            if offset + 8 + length > size:
                return f"chunk {name.decode('latin-1')!r} at byte {offset} runs {offset + 8 + length - size} bytes " \
                       "past the end of the file"
            if not name.isascii() or not name.decode("ascii").isprintable():
                return f"an invalid chunk id {name!r} at byte {offset}"
            seen.append(name)
            handle.seek(min(end, size))
            offset = end
    if first is not None and data is not None:
        if first not in seen or data not in seen:
            return f"the {first.decode().strip()!r} or {data.decode().strip()!r} chunk is missing"
        if seen.index(first) > seen.index(data):
            return f"the {data.decode().strip()!r} chunk comes before the {first.decode().strip()!r} chunk"
    return None


def xml(path: Path) -> str | None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)
    try:
        etree.parse(str(path), parser)
    except etree.XMLSyntaxError as exc:
        return f"not well-formed: {exc}"
    return None


CHECKS = {"riff": riff, "xml": xml}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in CHECKS:
        print(f"usage: checks {{{','.join(CHECKS)}}} FILE", file=sys.stderr)
        return 2
    try:
        problem = CHECKS[argv[0]](Path(argv[1]))
    except OSError as exc:
        problem = f"unreadable: {exc}"
    print(problem or "valid")
    return 1 if problem else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
