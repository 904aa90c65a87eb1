"""Benchmark: schema validation of an AIP METS of N files (5 events each), as a tree and streaming.

The METS is written by the real writer (`services.metadata.mets.writer`), without a database; each way of
validating runs in a fresh process so that `peak_rss_mb` (the kernel's high-water mark, VmHWM, which unlike
ru_maxrss is not inherited from the parent) is its own. `schema_rss_mb` is the process with the schemas compiled,
before the document is read. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from servicekit.xmlschema import aip_mets_schema, validate_mets
from services.metadata.mets.writer import MetsAgent, MetsEvent, MetsFile, MetsWriter

EVENT_TYPES = ("ingestion", "message digest calculation", "virus check", "format identification", "fixity check")


def write_mets(path: Path, count: int) -> None:
    agents = (MetsAgent("preservation system", "Amber-1", "Amber", "software"),
              MetsAgent("repository code", "org", "Org", "organization"))
    now = dt.datetime.now(dt.UTC)
    files = sorted((MetsFile(
        uuid=str(uuid.uuid4()), path=f"objects/d{i % 100}/f{i:07d}.txt", original_name=f"%transferDirectory%f{i}",
        size=10, checksum_type="sha256", checksum="0" * 64, format_name="Plain Text", format_version=None,
        puid="x-fmt/111", format_basis=None, modified_at=now, use="original") for i in range(count)),
        key=lambda f: f.path)
    with path.open("w", encoding="utf-8") as out:
        def write(text: str) -> None:
            out.write(text)

        writer = MetsWriter(write, package_uuid=uuid.uuid4(), package_name="bench")
        writer.open_document(now)
        writer.entity_dmd_sec(writer.package_uuid, writer.package_label)
        for file in files:
            writer.file_amd_sec(file, [MetsEvent(uuid=str(uuid.uuid4()), type=kind, datetime=now, detail="d",
                                                 outcome="Pass", outcome_note="n", agents=agents)
                                       for kind in EVENT_TYPES])
        writer.open_file_sec()
        writer.open_file_group("original")
        for file in files:
            writer.file_entry(file)
        writer.close_file_group()
        writer.close_file_sec()
        builder = writer.open_struct_map("physical", "Archivematica default")
        for file in files:
            builder.item(file.path, f"file-{file.uuid}")
        writer.close_struct_map(builder)
        writer.close_document()


def peak_rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(path: str, mode: str) -> dict[str, object]:
    """In this process: compile the schemas, then validate `path` as `mode` says."""
    aip_mets_schema()
    schema_rss = peak_rss_mb()
    started = time.monotonic()
    errors = validate_mets(path, tree_limit=(1 << 62) if mode == "tree" else 0)
    return {"mode": mode, "errors": len(errors), "seconds": round(time.monotonic() - started, 1),
            "peak_rss_mb": peak_rss_mb(), "schema_rss_mb": schema_rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--modes", default="tree,streaming", help="comma-separated: tree, streaming")
    parser.add_argument("--measure", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    with tempfile.TemporaryDirectory(prefix="amber-bench-mets-validation-") as tmp:
        path = Path(tmp) / "METS.xml"
        write_mets(path, args.files)
        figures: dict[str, object] = {"files": args.files, "mets_bytes": path.stat().st_size}
        for mode in args.modes.split(","):
            run = subprocess.run([sys.executable, __file__, "--measure", str(path), mode], check=True,
                                 capture_output=True, text=True)
            figures[mode] = json.loads(run.stdout)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
