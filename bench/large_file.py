"""Benchmark: one large file (10 GB by default) → stored AIP, against `sha256sum` + `cp` of the same file.

The file is random-looking data (AES-CTR keystream: neither compressible nor sparse, so neither 7-Zip nor the
filesystem can flatter the figures), written to a temporary folder under `--dir` ($TMPDIR, else /work) once
there is room for it and its copies (the baseline's copy, the uploaded tar, the extracted transfer, the AIP: about
`SPACE_FACTOR` x its size).

Baseline, run first on the file just written (same page-cache state for both sides; nothing is dropped):
`sha256sum FILE` then `cp FILE dest`, timed together (`baseline_s`).

Amber, after it: the whole stack on free ports (`amber_cli.ephemeral`), a processing configuration made through
the API that is `automated` except that the AIP is a 7z **without compression** (copy), and `amber ingest FOLDER
--wait` through the gateway (the folder uploaded as a tar stream, as the CLI does), timed from submission to the
stored AIP by `bench/ingest.py` (`amber_s`); the milestones the records keep split that time.
`ratio_vs_baseline` = amber_s / baseline_s (target ≤ 3).

Per stack process (and each tool it runs): its peak RSS (target < 500 MB each) and the bytes it read and
wrote in multiples of the file's size, which says which stage reads the file how many times; then where the
time went, per stage. The SHA-256 the AIP's record holds for the file must equal `sha256sum`'s.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from ingest import _ingest, eicar_database, print_where_time_goes
from process_watch import ProcessWatch, stack_pids

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack

BLOCK = 16 * 1024 * 1024
SPACE_FACTOR = 4.5  # the file, the uploaded transfer, the processing copy, the AIP, the baseline's copy
RSS_TARGET_MB = 500
RATIO_TARGET = 3.0
CONFIG = ("bench-large-file", {"compression_algo": "7z without compression"})
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
         "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str) -> int:
    """`10GB`, `1.5GB`, `500MB`, `2GiB`, `1000000` → bytes (GB = 10⁹ bytes, GiB = 2³⁰)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?\s*", text.upper())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 10GB, 500MB, 2GiB)")
    size = int(float(match.group(1)) * UNITS[match.group(2) or ""])
    if size <= 0:
        raise argparse.ArgumentTypeError("the size must be positive")
    return size


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def make_file(path: Path, size: int) -> None:
    """`size` bytes of AES-CTR keystream, written block by block (never more than a block in memory)."""
    encrypt = Cipher(algorithms.AES(os.urandom(16)), modes.CTR(os.urandom(16))).encryptor()
    zeros = bytes(BLOCK)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            block = encrypt.update(zeros if left >= BLOCK else bytes(left))
            out.write(block)
            left -= len(block)


def baseline(path: Path, dest: Path) -> tuple[float, str]:
    """Seconds of `sha256sum FILE` + `cp FILE dest`, and the digest; the copy is removed afterwards."""
    started = time.perf_counter()
    done = subprocess.run(["sha256sum", str(path)], check=True, capture_output=True, text=True)
    subprocess.run(["cp", str(path), str(dest)], check=True)
    seconds = time.perf_counter() - started
    dest.unlink()
    return seconds, done.stdout.split()[0]


def recorded_digests(stack: EphemeralStack, aip_id: str) -> dict[str, str]:
    """original name → SHA-256 of the files the metadata service recorded for the AIP."""
    with stack.client() as http:
        page = http.get(f"/api/v1/premis/packages/{aip_id}/files", params={"limit": 100}).json()
    return {item["original_name"]: item["checksum"] for item in page["items"]}


def virus_checks(stack: EphemeralStack, aip_id: str) -> list[str]:
    """The outcome (and its note) of each `virus check` event of the AIP: a file over clamd's size limit is not
    scanned, and a ratio measured on such a file leaves the scan's time out; the output says so."""
    with stack.client() as http:
        page = http.get(f"/api/v1/premis/packages/{aip_id}/events",
                        params={"type": "virus check", "limit": 100}).json()
    return [f"{event['outcome']}" + (f" ({event['outcome_note']})" if event["outcome_note"] else "")
            for event in page["items"]]


def timeline(stack: EphemeralStack, aip_id: str, submitted: datetime) -> dict[str, float]:
    """Seconds from submission to each milestone the records keep: the transfer opened (before its bytes
    arrive), the ingest created (upload received, extracted and checked), its first job begun, its last job
    ended, and the ingest stored."""
    with stack.client() as http:
        ingest = http.get(f"/api/v1/ingests/{aip_id}").json()
        transfer = http.get(f"/api/v1/transfers/{ingest['transfer_uuid']}").json()
        jobs = http.get(f"/api/v1/ingests/{aip_id}/jobs", params={"limit": 500}).json()["items"]
    begun = [datetime.fromisoformat(job["started_at"]) for job in jobs if job.get("started_at")]
    ended = [datetime.fromisoformat(job["finished_at"]) for job in jobs if job.get("finished_at")]
    moments = {
        "transfer opened": datetime.fromisoformat(transfer["created_at"]),
        "upload received, extracted and handed to ingest": datetime.fromisoformat(ingest["created_at"]),
        "first job begun": min(begun),
        "last job ended": max(ended),
        "stored": datetime.fromisoformat(ingest["finished_at"]),
    }
    return {name: round((moment - submitted).total_seconds(), 2) for name, moment in moments.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=parse_size("10GB"), help="e.g. 10GB, 1GB, 500MB")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("TMPDIR") or "/work"),
                        help="where the temporary work folder goes ($TMPDIR, else /work)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (file, AIP, logs)")
    args = parser.parse_args()
    size: int = args.size
    free = shutil.disk_usage(args.dir).free
    if free < SPACE_FACTOR * size:
        raise SystemExit(f"not enough room in {args.dir}: {human(free)} free, {human(SPACE_FACTOR * size)} needed "
                         f"({SPACE_FACTOR}x the file for its copies); use a smaller --size or another --dir")
    work = Path(tempfile.mkdtemp(prefix="amber-large-file-", dir=args.dir))
    try:
        run(work, size)
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, size: int) -> None:
    folder = work / "large-file-transfer"
    path = folder / "payload.bin"
    started = time.perf_counter()
    make_file(path, size)
    print(f"made {path.name}: {human(size)} in {time.perf_counter() - started:.1f} s", flush=True)

    baseline_s, digest = baseline(path, work / "baseline-copy.bin")
    print(f"baseline (sha256sum + cp, run first): {baseline_s:.2f} s, {size / baseline_s / 1e6:.0f} MB/s",
          flush=True)

    data_dir = work / "amber-data"
    env = {"AMBER_INGEST_CLAMAV_DATABASE_DIR": str(eicar_database(work / "clamav-db"))}
    with ProcessWatch(lambda: stack_pids(data_dir)) as watch, ephemeral_stack(data_dir, extra_env=env) as stack:
        with stack.client() as http:
            http.put(f"/api/v1/processing-configurations/{CONFIG[0]}", json={"fields": CONFIG[1]}).raise_for_status()
        submitted = datetime.now(UTC)
        amber = _ingest(stack, folder, data_dir, ["--processing-config", CONFIG[0]])
        phases = timeline(stack, amber.aip_id, submitted)
        scans = virus_checks(stack, amber.aip_id)
        recorded = {name: value for name, value in recorded_digests(stack, amber.aip_id).items()
                    if name.endswith(path.name)}
    if list(recorded.values()) != [digest]:
        raise SystemExit(f"the AIP's record holds {recorded} for {path.name}, sha256sum says {digest}")
    ratio = amber.seconds / baseline_s
    print(f"amber: {amber.seconds:.2f} s to a stored AIP, {size / amber.seconds / 1e6:.0f} MB/s, "
          f"AIP {human(amber.aip_bytes)}; ratio vs baseline {ratio:.2f} (target ≤ {RATIO_TARGET:g})")
    print(f"virus check of the file: {'; '.join(scans) or 'no event'}")
    processes = watch.by_label()
    print(f"per process (peak RSS; bytes read / written in file sizes; target < {RSS_TARGET_MB} MB each):")
    for name, figures in sorted(processes.items(), key=lambda item: -item[1].peak_rss):
        if figures.peak_rss < 5e6 and figures.read < size / 100:
            continue
        print(f"  {name}: {figures.peak_rss / 1e6:.0f} MB, read {figures.read / size:.2f}x, "
              f"written {figures.written / size:.2f}x")
    highest = max(processes.items(), key=lambda item: item[1].peak_rss)
    print(f"highest peak RSS: {highest[0]} {highest[1].peak_rss / 1e6:.0f} MB")
    print("milestones (s after submission): " + ", ".join(f"{name} {at:.1f}" for name, at in phases.items()))
    print_where_time_goes(amber)
    print(json.dumps({
        "bench": "large_file", "bytes": size, "baseline_s": round(baseline_s, 3), "amber_s": round(amber.seconds, 3),
        "ratio_vs_baseline": round(ratio, 3), "amber_mb_per_s": round(size / amber.seconds / 1e6, 1),
        "aip_bytes": amber.aip_bytes, "sha256": digest,
        "peak_rss_mb": {name: round(f.peak_rss / 1e6, 1) for name, f in processes.items()},
        "highest_rss": highest[0], "whole_stack_peak_rss_mb": round(amber.peak_rss / 1e6, 1),
        "read_x": {name: round(f.read / size, 2) for name, f in processes.items() if f.read >= size / 100},
        "written_x": {name: round(f.written / size, 2) for name, f in processes.items() if f.written >= size / 100},
        "milestones_s": phases, "virus_checks": scans,
        "amber_cpu_s": {name: round(seconds, 2) for name, seconds in amber.cpu_by_process.items()},
        "amber_stages": amber.stages,
    }))


if __name__ == "__main__":
    main()
