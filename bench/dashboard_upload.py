"""Benchmark: a large upload through the dashboard holds neither the browser's nor the gateway's memory.

Run on demand (not in the suite): `python bench/dashboard_upload.py --size 1GB`. A whole stack is started (`amber
up` on free ports) and Debian's Chromium, driven by Playwright, signs in and uploads a folder holding one file of
`--size` bytes (sparse, so it is made at once and takes no disk) through the dashboard's resumable upload, without
approval. Throughout, the browser's process tree, its JS heap (CDP `Performance.getMetrics`) and the gateway's and
transfer service's process trees are sampled. Once the upload is past its middle the browser is cut off the network
(`context.set_offline`) for a few seconds; the upload must go on from the server's offset, never from zero. The
transfer is then rejected (its unpacked copy removed) and the stack stopped.

The server keeps the upload and then unpacks it, so about twice the size must be free where the temporary
directory is (`--tmp`); the benchmark refuses to start otherwise. Sizes take B, KB, MB, GB, TB (powers of 1024).
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from playwright.sync_api import CDPSession, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack

CHROMIUM = "/usr/bin/chromium"
UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
MB = 1 << 20
OFFLINE_SECONDS = 4.0
SAMPLE_SECONDS = 0.5
# upload.js shows 0-30 % while hashing and 30-100 % while sending; 65 % is half the bytes sent.
CUT_AT_PERCENT = 65
PHASES = ("hashing", "sending", "completing")


def parse_size(text: str) -> int:
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B)?\s*", text.upper())
    if not found:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500MB, 1GB, 5GB)")
    return int(float(found.group(1)) * UNITS[found.group(2) or "B"])


def refuse_if_short(folder: Path, size: int) -> None:
    """The received upload and the transfer unpacked from it, with a gigabyte to spare."""
    needed, free = 2 * size + (1 << 30), shutil.disk_usage(folder).free
    if free < needed:
        sys.exit(f"refusing to start: a {size / (1 << 30):.1f} GiB upload needs {needed / (1 << 30):.1f} GiB free "
                 f"in {folder}, which has {free / (1 << 30):.1f} GiB (choose another --tmp or a smaller --size)")


def rss(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


def pss(processes: list[psutil.Process]) -> int:
    """Proportional set size: each shared page split between the processes sharing it. Chromium's processes
    share most of their pages, so their summed RSS counts those several times over."""
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_full_info().pss
    return total


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants (uvicorn workers, Chromium's renderers)."""
    return rss([process, *process.children(recursive=True)])


def browser_processes() -> list[psutil.Process]:
    """Chromium's processes are this process's descendants (through Playwright's driver)."""
    chromium = []
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.name().startswith("chrom"):
                chromium.append(process)
    return chromium


@dataclass
class Peaks:
    gateway: psutil.Process
    transfer: psutil.Process
    values: dict[str, float] = field(default_factory=dict)
    phase: str = "before"

    def note(self, name: str, value: float) -> None:
        """The peak overall, and the peak of the phase (hashing, sending, completing): where memory goes."""
        for key in (name, f"{name}:{self.phase}"):
            self.values[key] = max(self.values.get(key, 0.0), value)

    def sample(self, cdp: CDPSession) -> None:
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        self.note("js_heap", metrics.get("JSHeapUsedSize", 0.0))
        chromium = browser_processes()
        self.note("browser", rss(chromium))
        self.note("browser_pss", pss(chromium))
        self.note("gateway", tree_rss(self.gateway))
        self.note("transfer", tree_rss(self.transfer))

    def mb(self, name: str) -> float:
        return round(self.values.get(name, 0.0) / MB, 1)


def sign_in(page: Page, stack: EphemeralStack) -> None:
    username, key = stack.auth.removeprefix("ApiKey ").split(":", 1)
    page.goto(stack.gateway + "/dashboard/sign-in")
    page.fill("#username", username)
    page.fill("#key", key)
    with page.expect_navigation():
        page.press("#key", "Enter")


@dataclass
class Run:
    """What the page showed while uploading: progress at the cut, the lowest progress after it, the messages."""

    cut_percent: int | None = None
    lowest_after: int = 100
    said_lost: bool = False
    hashed_at: float | None = None


def shown(page: Page) -> dict[str, Any] | None:
    """The progress bar and the status line; None once the page is leaving for the transfer's page."""
    try:
        answer: dict[str, Any] = page.evaluate("""() => ({
            percent: document.getElementById("upload-progress")?.value ?? 100,
            said: document.getElementById("upload-status")?.textContent ?? ""})""")
    except PlaywrightError:
        return None
    return answer


def upload(page: Page, cdp: CDPSession, peaks: Peaks) -> tuple[Run, float]:
    """Start the upload and watch it to the transfer's page, cutting the network once past the middle."""
    run, offline_since = Run(), None
    started = time.monotonic()
    page.click("#upload-start")
    while not re.search(r"/dashboard/transfers/[0-9a-f-]{36}$", page.url):
        peaks.sample(cdp)
        state = shown(page)
        if state is not None:
            percent, said = int(state["percent"]), str(state["said"])
            if said.startswith("Upload failed"):
                raise SystemExit(f"the upload failed: {said}")
            peaks.phase = "hashing" if percent <= 30 else "sending" if percent < 100 else "completing"
            if run.hashed_at is None and percent > 30:
                run.hashed_at = time.monotonic() - started
            if run.cut_percent is None and percent >= CUT_AT_PERCENT:
                page.context.set_offline(True)
                run.cut_percent, offline_since = percent, time.monotonic()
                print(f"offline at {percent} %", flush=True)
            elif offline_since is not None:
                run.said_lost = run.said_lost or said.startswith("Connection lost")
                if time.monotonic() - offline_since >= OFFLINE_SECONDS:
                    page.context.set_offline(False)
                    offline_since = None
                    print(f"online again ({said})", flush=True)
            elif run.cut_percent is not None and said.startswith("Uploading"):
                run.lowest_after = min(run.lowest_after, percent)
        page.wait_for_timeout(SAMPLE_SECONDS * 1000)
    return run, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("5GB"), help="bytes of the file (5GB)")
    parser.add_argument("--tmp", type=Path, default=None, help="where the file and the stack's data go")
    args = parser.parse_args()
    if args.tmp is not None:
        args.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.tmp) as scratch_name:
        scratch = Path(scratch_name)
        refuse_if_short(scratch, args.size)
        folder = scratch / "large-upload"
        folder.mkdir()
        with (folder / "large.bin").open("wb") as sparse:
            sparse.truncate(args.size)
        with ephemeral_stack(scratch / "data") as stack, sync_playwright() as playwright:
            peaks = Peaks(psutil.Process(stack.pid("gateway")), psutil.Process(stack.pid("transfer")))
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_context().new_page()
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            sign_in(page, stack)
            page.goto(stack.gateway + "/dashboard/transfers/new")
            page.set_input_files("#upload-folder", str(folder))
            page.uncheck("#upload-approve")
            peaks.sample(cdp)
            baseline = {name: peaks.mb(name) for name in ("browser", "browser_pss", "js_heap", "gateway", "transfer")}
            print(f"before the upload (MB): {baseline}", flush=True)
            run, seconds = upload(page, cdp, peaks)
            transfer_uuid = page.url.rsplit("/", 1)[1]
            with stack.client() as api:
                transfer = api.get(f"/api/v1/transfers/{transfer_uuid}").json()
                while transfer["status"] == "received":
                    page.wait_for_timeout(500)
                    transfer = api.get(f"/api/v1/transfers/{transfer_uuid}").json()
                assert transfer["status"] == "awaiting_approval", transfer
                assert transfer["size"] == args.size, transfer
                api.post(f"/api/v1/transfers/{transfer_uuid}/reject", json={"reason": "benchmark"})
            browser.close()
    resumed = run.cut_percent is not None and run.said_lost and run.lowest_after >= run.cut_percent
    print(json.dumps({
        "size_bytes": args.size, "seconds": round(seconds, 1),
        "hash_seconds": round(run.hashed_at or 0.0, 1),
        "browser_peak_rss_mb": peaks.mb("browser"), "browser_peak_pss_mb": peaks.mb("browser_pss"),
        "js_heap_peak_mb": peaks.mb("js_heap"),
        "gateway_peak_rss_mb": peaks.mb("gateway"), "transfer_peak_rss_mb": peaks.mb("transfer"),
        "baseline_mb": baseline, "cut_at_percent": run.cut_percent, "resumed": resumed,
        "browser_peak_rss_mb_by_phase": {phase: peaks.mb(f"browser:{phase}") for phase in PHASES},
        "browser_peak_pss_mb_by_phase": {phase: peaks.mb(f"browser_pss:{phase}") for phase in PHASES},
    }))


if __name__ == "__main__":
    main()
