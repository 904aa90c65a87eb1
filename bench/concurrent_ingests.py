"""Benchmark: N transfers submitted together against the same N run one after another, each on a fresh stack.

N transfers of F files each are made with `bench/ingest.py`'s `make_transfer`, numbered apart so that no two
share a file's content. Each is uploaded through the gateway as the CLI does (`TransferClient.upload_transfer`,
a tar stream of the folder, the `automated` configuration).

(a) Together, on one fresh stack: all N uploads start at once; `total_concurrent_s` runs from the first upload's
start to the last ingest's `finished_at`. The ingests' statuses are polled meanwhile: how many were processing
at once (admission control lets `max_active_ingests` through; the rest wait queued) and the time-weighted mean.
(b) Alone, on another fresh stack, afterwards: each transfer uploaded and followed to its end before the next
starts; `sum_alone_s` sums each one's time from its upload's start to its `finished_at`.

Checks: all N stored, no error (each failure listed with its reason), `ratio` = total_concurrent_s / sum_alone_s
(target ≤ 1). Also per phase: the whole stack's peak RSS (`bench/process_watch.py`'s `RssSampler`) and the CPU seconds
its processes spent, over the machine's CPUs x wall time (how busy admission control keeps the machine).
Ends with one JSON line.

(Not named `concurrent.py`: run from bench/, that name hides the standard library's `concurrent` package, which
asyncio imports, and mypy stops with an internal error over it.)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
from ingest import eicar_database, make_seeds, make_transfer, tree_cpu
from process_watch import RssSampler

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack
from clients.ingest import FINAL_STATUSES, IngestClient, IngestRead, IngestStatus
from clients.transfer import TransferClient
from servicekit.http import ServiceError
from services.ingest.settings import IngestSettings

POLL_S = 0.5
TIMEOUT_S = 4 * 3600
RUNNING = {IngestStatus.processing, IngestStatus.awaiting_decision}


@dataclass
class Outcome:
    name: str
    submitted: datetime
    ingest: IngestRead | None = None
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        if self.ingest is None or self.ingest.finished_at is None:
            return None
        return (self.ingest.finished_at - self.submitted).total_seconds()


@dataclass
class Phase:
    outcomes: list[Outcome]
    seconds: float
    peak_rss: int
    cpu: float
    max_running: int = 0
    mean_running: float = 0.0
    max_queued: int = 0
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (time, running, queued)


class Api:
    """The gateway's transfer and ingest operations with the stack's admin key."""

    def __init__(self, stack: EphemeralStack) -> None:
        key = json.loads((stack.data_dir / "credentials.json").read_text())["key"]
        base = f"{stack.gateway}/api/v1"
        self.transfers = TransferClient(base, token=key, timeout=600)
        self.ingests = IngestClient(base, token=key, timeout=60)

    async def submit(self, folder: Path) -> Outcome:
        outcome = Outcome(folder.name, datetime.now(UTC))
        try:
            transfer = await self.transfers.upload_transfer(folder.name, folder)
        except ServiceError as exc:
            outcome.error = f"upload refused: {exc}"
            return outcome
        if transfer.ingest_uuid is None:
            outcome.error = f"no ingest for transfer {transfer.uuid}: {transfer.status.value} {transfer.error or ''}"
            return outcome
        outcome.ingest = await self.ingests.get_ingest(transfer.ingest_uuid)
        return outcome

    async def all_ingests(self) -> list[IngestRead]:
        items: list[IngestRead] = []
        while True:
            page = await self.ingests.list_ingests(limit=1000, offset=len(items))
            items.extend(page.items)
            if not page.items or len(items) >= page.total:
                return items

    async def aclose(self) -> None:
        await self.transfers.aclose()
        await self.ingests.aclose()


def stack_cpu(stack: EphemeralStack) -> float:
    return sum(tree_cpu(pid) for pid in stack.pids().values())


async def until_final(api: Api, outcomes: list[Outcome], phase: Phase, began: float) -> None:
    """Poll every ingest until each is final, noting how many run and wait at each poll; updates `outcomes`."""
    waiting = {o.ingest.uuid: o for o in outcomes if o.ingest is not None and o.ingest.status not in FINAL_STATUSES}
    deadline = time.monotonic() + TIMEOUT_S
    while waiting:
        if time.monotonic() > deadline:
            for outcome in waiting.values():
                outcome.error = f"not final after {TIMEOUT_S} s"
            return
        ingests = await api.all_ingests()
        running = sum(1 for ingest in ingests if ingest.status in RUNNING)
        queued = sum(1 for ingest in ingests if ingest.status is IngestStatus.queued)
        phase.samples.append((time.perf_counter() - began, running, queued))
        phase.max_running, phase.max_queued = max(phase.max_running, running), max(phase.max_queued, queued)
        for ingest in ingests:
            if ingest.uuid in waiting and ingest.status in FINAL_STATUSES:
                waiting.pop(ingest.uuid).ingest = ingest
        await asyncio.sleep(POLL_S)


def mean_running(samples: list[tuple[float, int, int]]) -> float:
    """Time-weighted mean of the ingests processing at once, over the polls."""
    if len(samples) < 2:
        return float(samples[0][1]) if samples else 0.0
    weighted = sum((later[0] - earlier[0]) * earlier[1] for earlier, later in itertools.pairwise(samples))
    return weighted / (samples[-1][0] - samples[0][0])


async def together(stack: EphemeralStack, folders: list[Path]) -> Phase:
    api = Api(stack)
    try:
        with RssSampler(stack.pids) as sampler:
            cpu_before, began = stack_cpu(stack), time.perf_counter()
            started = datetime.now(UTC)
            outcomes = list(await asyncio.gather(*(api.submit(folder) for folder in folders)))
            uploaded_s = time.perf_counter() - began
            phase = Phase(outcomes, 0.0, 0, 0.0)
            await until_final(api, outcomes, phase, began)
            phase.cpu, phase.peak_rss = stack_cpu(stack) - cpu_before, sampler.peak
        print(f"  all {len(folders)} uploads answered in {uploaded_s:.1f} s", flush=True)
        ends = [o.ingest.finished_at for o in outcomes if o.ingest is not None and o.ingest.finished_at is not None]
        phase.seconds = (max(ends) - started).total_seconds() if ends else time.perf_counter() - began
        phase.mean_running = mean_running(phase.samples)
        return phase
    finally:
        await api.aclose()


async def alone(stack: EphemeralStack, folders: list[Path]) -> Phase:
    api = Api(stack)
    try:
        outcomes: list[Outcome] = []
        phase = Phase(outcomes, 0.0, 0, 0.0)
        with RssSampler(stack.pids) as sampler:
            cpu_before, began = stack_cpu(stack), time.perf_counter()
            for folder in folders:
                outcome = await api.submit(folder)
                outcomes.append(outcome)
                await until_final(api, [outcome], phase, began)
                print(f"  {outcome.name}: {describe(outcome)}", flush=True)
            phase.cpu, phase.peak_rss = stack_cpu(stack) - cpu_before, sampler.peak
        phase.seconds = sum(o.seconds or 0.0 for o in outcomes)
        phase.mean_running = mean_running(phase.samples)
        return phase
    finally:
        await api.aclose()


def describe(outcome: Outcome) -> str:
    if outcome.error is not None:
        return f"error: {outcome.error}"
    assert outcome.ingest is not None
    status = outcome.ingest.status.value
    said = f"{status} in {outcome.seconds:.1f} s" if outcome.seconds else status
    return said + (f" ({outcome.ingest.error})" if outcome.ingest.error else "")


def failures(phase: Phase) -> list[dict[str, str]]:
    """Every transfer that did not end stored, with its reason."""
    out = []
    for outcome in phase.outcomes:
        if outcome.ingest is not None and outcome.ingest.status is IngestStatus.stored and outcome.error is None:
            continue
        status = outcome.ingest.status.value if outcome.ingest is not None else "no ingest"
        reason = outcome.error or (outcome.ingest.error if outcome.ingest is not None else None) or status
        out.append({"transfer": outcome.name, "status": status, "reason": reason})
    return out


def run_phase(label: str, work: Path, database: Path, env: dict[str, str], folders: list[Path],
              body: str) -> Phase:
    data_dir = work / f"amber-data-{label}"
    with ephemeral_stack(data_dir, extra_env={"AMBER_INGEST_CLAMAV_DATABASE_DIR": str(database), **env}) as stack:
        phase = asyncio.run(together(stack, folders) if body == "together" else alone(stack, folders))
    shutil.rmtree(data_dir, ignore_errors=True)
    return phase


def report(name: str, phase: Phase, transfers: int) -> dict[str, object]:
    stored = sum(1 for o in phase.outcomes if o.ingest is not None and o.ingest.status is IngestStatus.stored)
    failed = failures(phase)
    busy = phase.cpu / (phase.seconds * (psutil.cpu_count() or 1)) if phase.seconds else 0.0
    print(f"{name}: {phase.seconds:.1f} s, {stored}/{transfers} stored, {len(failed)} errors; processing at once: "
          f"max {phase.max_running}, mean {phase.mean_running:.2f}; queued at most {phase.max_queued}; whole-stack "
          f"peak RSS {phase.peak_rss / 1e6:.0f} MB; stack CPU {phase.cpu:.0f} s ({busy:.0%} of the machine)")
    for failure in failed:
        print(f"  FAILED {failure['transfer']} ({failure['status']}): {failure['reason']}")
    return {"s": round(phase.seconds, 2), "stored": stored, "errors": failed, "max_running": phase.max_running,
            "mean_running": round(phase.mean_running, 2), "max_queued": phase.max_queued,
            "peak_rss_mb": round(phase.peak_rss / 1e6, 1), "cpu_s": round(phase.cpu, 1),
            "machine_busy": round(busy, 3),
            "per_transfer_s": [round(o.seconds, 2) if o.seconds else None for o in phase.outcomes]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transfers", type=int, default=20)
    parser.add_argument("--files", type=int, default=500, help="files per transfer")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for both stacks, e.g. AMBER_INGEST_MAX_ACTIVE_INGESTS=4 (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (transfers, logs)")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    work = Path(tempfile.mkdtemp(prefix="amber-concurrent-"))
    try:
        seeds = make_seeds(work / "seeds")
        folders, total = [], 0
        started = time.perf_counter()
        for index in range(args.transfers):
            folder = work / f"concurrent-{index:03d}"
            size, _ = make_transfer(folder, args.files, seeds, first=index * args.files)
            folders.append(folder)
            total += size
        print(f"made {args.transfers} transfers of {args.files} files, {total / 1e6:.1f} MB in all, in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        database = eicar_database(work / "clamav-db")
        max_active = int(env.get("AMBER_INGEST_MAX_ACTIVE_INGESTS", os.environ.get(
            "AMBER_INGEST_MAX_ACTIVE_INGESTS", IngestSettings.model_fields["max_active_ingests"].default)))
        print(f"(a) all {args.transfers} submitted together, fresh stack (max_active_ingests {max_active})",
              flush=True)
        concurrent = run_phase("together", work, database, env, folders, "together")
        print("(b) each alone, one after another, fresh stack", flush=True)
        sequential = run_phase("alone", work, database, env, folders, "alone")
        figures = {"together": report("together", concurrent, args.transfers),
                   "alone": report("alone (sum)", sequential, args.transfers)}
        ratio = concurrent.seconds / sequential.seconds if sequential.seconds else float("nan")
        print(f"total_concurrent_s {concurrent.seconds:.1f} / sum_alone_s {sequential.seconds:.1f} = {ratio:.3f} "
              f"(target ≤ 1)")
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        print(json.dumps({
            "bench": "concurrent", "transfers": args.transfers, "files": args.files, "bytes": total,
            "max_active_ingests": max_active, "total_concurrent_s": round(concurrent.seconds, 2),
            "sum_alone_s": round(sequential.seconds, 2), "ratio": round(ratio, 4),
            "all_stored": all(f["stored"] == args.transfers and not f["errors"] for f in figures.values()),
            **figures,
        }))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
