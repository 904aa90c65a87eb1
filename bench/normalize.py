"""Benchmark: normalization for preservation, Amber against a3m on the same folder in the same run.

The folder is bench/ingest.py's mixed transfer (PNG, JPEG, GIF, TIFF, WAV and PDF written by real tools, text,
CSV, XML, JSON, HTML and ZIP), so most files have a preservation rule in both registries (images → TIFF, PDF →
PDF/A) and the rest show what a file without one costs.

Amber: the whole stack on free ports, a processing configuration made through the API that is `automated` but
"Normalize for preservation" (no thumbnails, no OCR, approved without asking), `amber ingest --wait`, timed from
submission to stored AIP (`amber_s`); `peak_rss_mb` is the peak summed RSS of every stack process and its
children (the normalization tools included). a3m: `-p normalize=yes`, which normalizes for preservation only, with
bench/ingest.py's other settings. Ends with one JSON line.

The two registries differ: Amber's default rules make a preservation TIFF of every PNG, JPEG, GIF and TIFF, where
a3m's rules for PNG, JPEG and GIF are disabled (a3m keeps those as they are), so "as shipped" Amber does several
times a3m's normalizations. The comparison that counts is on the same work: Amber is run a second time with its
preservation rules disabled through its API for every format a3m has no enabled preservation rule for (read from
a3m's own registry data), and `speedup_vs_a3m` = a3m_s / amber_s of that run; `speedup_vs_a3m_as_shipped` is the
other. Each side's `normalization` events (by outcome) are counted in its AIP's METS and printed, so what each did
is said, not assumed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from ingest import (
    A3M_VENV,
    Run,
    eicar_database,
    ensure_a3m,
    make_seeds,
    make_transfer,
    premis_events,
    run_a3m,
    run_amber,
)

PRESERVATION_ONLY = ("bench-preservation", {
    "normalize": "Normalize for preservation", "normalize_thumbnail_mode": "No", "normalize_transfer": "Approve",
    "transcribe_file": "No",
})


def a3m_preservation_puids() -> set[str]:
    """The PUIDs a3m's own registry data has an enabled preservation rule for."""
    fixtures = sorted(A3M_VENV.glob("lib/python3*/site-packages/a3m/fpr/migrations/initial-data.json"))
    if not fixtures:
        raise SystemExit(f"a3m's registry data is not in {A3M_VENV}")
    records = json.loads(fixtures[-1].read_text(encoding="utf-8"))
    versions = {}
    for record in records:
        if record["model"] == "fpr.formatversion":
            versions[record["pk"]] = versions[record["fields"].get("uuid")] = record["fields"].get("pronom_id")
    return {versions[r["fields"]["format"]] for r in records
            if r["model"] == "fpr.fprule" and r["fields"]["purpose"] == "preservation" and r["fields"].get("enabled")
            and versions.get(r["fields"]["format"])}


def only_formats(puids: set[str]) -> Callable[[httpx.Client], None]:
    """Through Amber's API: disable every preservation rule whose format is not in `puids`."""

    def setup(http: httpx.Client) -> None:
        offset, rules = 0, []
        while True:
            page = http.get("/api/v1/format-rules", params={"purpose": "preservation", "limit": 500,
                                                            "offset": offset})
            page.raise_for_status()
            rules += page.json()["items"]
            offset += len(page.json()["items"])
            if not page.json()["items"] or offset >= page.json()["total"]:
                break
        for rule in rules:
            if rule["enabled"] and rule["puid"] not in puids:
                http.patch(f"/api/v1/format-rules/{rule['uuid']}", json={"enabled": False}).raise_for_status()

    return setup


def normalizations(run: Run) -> dict[str, int]:
    assert run.aip_file is not None
    return premis_events(run.aip_file).get("normalization", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (transfer, AIPs, logs)")
    parser.add_argument("--skip-a3m", action="store_true", help="run Amber only")
    args = parser.parse_args()
    a3m = None if args.skip_a3m else ensure_a3m()
    work = Path(tempfile.mkdtemp(prefix="amber-bench-normalize-"))
    try:
        folder = work / "bench-transfer"
        total, kinds = make_transfer(folder, args.files, make_seeds(work / "seeds"))
        print(f"made {args.files} files, {total / 1e6:.1f} MB: "
              + ", ".join(f"{count} {kind}" for kind, count in kinds.items()))
        started = time.perf_counter()
        database = eicar_database(work / "clamav-db")
        shipped = run_amber(folder, work, database, PRESERVATION_ONLY, label="-shipped")
        figures: dict[str, object] = {
            "bench": "normalize", "files": args.files, "bytes": total,
            "amber_as_shipped_s": round(shipped.seconds, 3), "amber_as_shipped_normalizations": normalizations(shipped),
        }
        print(f"amber as shipped (preservation): {shipped.seconds:.2f} s to a stored AIP, peak RSS "
              f"{shipped.peak_rss / 1e6:.0f} MB, normalizations {normalizations(shipped)}")
        if a3m is not None:
            puids = a3m_preservation_puids()
            same = run_amber(folder, work, database, PRESERVATION_ONLY, label="-same", setup=only_formats(puids))
            print(f"amber on a3m's formats only ({len(puids)} PUIDs): {same.seconds:.2f} s, peak RSS "
                  f"{same.peak_rss / 1e6:.0f} MB, normalizations {normalizations(same)}")
            base = run_a3m(a3m, folder, work, normalize=True)
            print(f"a3m {base.version} (normalize=yes): {base.seconds:.2f} s, peak RSS {base.peak_rss / 1e6:.0f} MB, "
                  f"AIP with {base.objects} objects, normalizations {normalizations(base)}")
            figures.update({
                "amber_s": round(same.seconds, 3), "peak_rss_mb": round(same.peak_rss / 1e6, 1),
                "amber_normalizations": normalizations(same),
                "a3m_s": round(base.seconds, 3), "a3m_peak_rss_mb": round(base.peak_rss / 1e6, 1),
                "a3m_normalizations": normalizations(base), "a3m_objects": base.objects,
                "speedup_vs_a3m": round(base.seconds / same.seconds, 2),
                "speedup_vs_a3m_as_shipped": round(base.seconds / shipped.seconds, 2), "a3m_version": base.version,
            })
        figures["total_s"] = round(time.perf_counter() - started, 1)
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        print(json.dumps(figures))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
