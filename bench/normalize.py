"""Benchmark: normalization for preservation, Amber against a3m on the same folder in the same run.

The folder is bench/ingest.py's mixed transfer (PNG, JPEG, GIF, TIFF, WAV and PDF written by real tools, text,
CSV, XML, JSON, HTML and ZIP), so most files have a preservation rule in both registries (images → TIFF, PDF →
PDF/A) and the rest show what a file without one costs.

Amber: the whole stack on free ports, a processing configuration made through the API that is `automated` but
"Normalize for preservation" (no thumbnails, no OCR, approved without asking), `amber ingest --wait`, timed from
submission to stored AIP (`amber_s`); `peak_rss_mb` is the peak summed RSS of every stack process and its
children (the normalization tools included). a3m: `-p normalize=yes`, which normalizes for preservation only, with
bench/ingest.py's other settings. `speedup_vs_a3m` = a3m_s / amber_s. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ingest import eicar_database, ensure_a3m, make_seeds, make_transfer, run_a3m, run_amber

PRESERVATION_ONLY = ("bench-preservation", {
    "normalize": "Normalize for preservation", "normalize_thumbnail_mode": "No", "normalize_transfer": "Approve",
    "transcribe_file": "No",
})


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
        amber = run_amber(folder, work, eicar_database(work / "clamav-db"), PRESERVATION_ONLY)
        print(f"amber (preservation): {amber.seconds:.2f} s to a stored AIP, peak RSS {amber.peak_rss / 1e6:.0f} MB, "
              f"AIP {amber.aip_bytes / 1e6:.1f} MB")
        figures: dict[str, object] = {
            "bench": "normalize", "files": args.files, "bytes": total, "amber_s": round(amber.seconds, 3),
            "peak_rss_mb": round(amber.peak_rss / 1e6, 1), "amber_aip_mb": round(amber.aip_bytes / 1e6, 1),
        }
        if a3m is not None:
            base = run_a3m(a3m, folder, work, normalize=True)
            print(f"a3m {base.version} (normalize=yes): {base.seconds:.2f} s, peak RSS {base.peak_rss / 1e6:.0f} MB, "
                  f"AIP {base.aip_bytes / 1e6:.1f} MB with {base.objects} objects")
            figures.update({
                "a3m_s": round(base.seconds, 3), "a3m_peak_rss_mb": round(base.peak_rss / 1e6, 1),
                "a3m_aip_mb": round(base.aip_bytes / 1e6, 1), "a3m_objects": base.objects,
                "speedup_vs_a3m": round(base.seconds / amber.seconds, 2), "a3m_version": base.version,
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
