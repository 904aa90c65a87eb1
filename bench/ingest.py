"""Benchmark: a folder of N small files → stored AIP through the gateway, against a same-run baseline.

The baseline is the unavoidable work done by standard tools on the same folder: `sha256sum` of every file,
then `7z` with the same settings the AIP uses. `ratio` = Amber's wall time / the baseline's.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psutil

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack


def make_files(root: Path, count: int, size: int) -> int:
    total = 0
    for index in range(count):
        path = root / f"d{index % 20:02d}" / f"e{index % 7}" / f"file-{index:06d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        content = (f"record {index} ".encode() * (size // 8 + 1))[:size]
        path.write_bytes(content)
        total += len(content)
    return total


def baseline(folder: Path, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run(f"find . -type f -print0 | xargs -0 sha256sum > {work / 'sums'}", shell=True, cwd=folder,
                   check=True)
    subprocess.run(["7z", "a", "-bd", "-t7z", "-y", "-m0=bzip2", "-mx=5", "-mmt=on", "-mf=off",
                    str(work / "baseline.7z"), folder.name], cwd=folder.parent, check=True,
                   capture_output=True)
    return time.perf_counter() - started


class RssSampler(threading.Thread):
    """Peak of the summed RSS of every stack process (services, gateway, worker, Temporal)."""

    def __init__(self, stack: EphemeralStack) -> None:
        super().__init__(daemon=True)
        self.stack, self.peak, self.stop = stack, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            total = 0
            for pid in self.stack.pids().values():
                try:
                    process = psutil.Process(pid)
                    total += process.memory_info().rss
                    total += sum(child.memory_info().rss for child in process.children(recursive=True))
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size", type=int, default=2048, help="bytes per file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        root = Path(tmp)
        folder = root / "bench-transfer"
        total = make_files(folder, args.files, args.size)
        print(f"made {args.files} files, {total / 1e6:.1f} MB")
        base = baseline(folder, root)
        print(f"baseline (sha256sum + 7z bzip2): {base:.2f} s")
        with ephemeral_stack(root / "data") as stack:
            sampler = RssSampler(stack)
            sampler.start()
            started = time.perf_counter()
            result = stack.amber("ingest", str(folder), "--wait", "--json", timeout=24 * 3600)
            seconds = time.perf_counter() - started
            sampler.stop.set()
            sampler.join()
            summary = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"amber ingest: {seconds:.2f} s, status {summary['status']}, {args.files / seconds:.0f} files/s")
        figures = {
            "bench": "ingest",
            "files": args.files,
            "bytes": total,
            "status": summary["status"],
            "seconds": round(seconds, 3),
            "files_per_s": round(args.files / seconds, 1),
            "baseline_seconds": round(base, 3),
            "ratio": round(seconds / base, 2),
            "peak_rss_mb": round(sampler.peak / 1e6, 1),
        }
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
