"""One pass of the per-file micro-services over a file: checksum, virus scan, identification, validation,
characterization, and whether it is a package to open. Runs in a worker thread; the tools are the worker's."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

from clients.ingest.fpr import RuleOutcome
from services.ingest.fpr.index import PolicyIndex
from services.ingest.microservices.characterization import Characterization
from services.ingest.microservices.extraction import package_kind
from services.ingest.microservices.results import FileOutcome, Status
from services.ingest.microservices.virus_scan import not_scanned
from services.ingest.processing.hashing import sha256_file
from services.ingest.processing.identification import (
    UNIDENTIFIED,
    Identification,
    identify_many,
    identify_with_fido,
)
from services.ingest.processing.metrics import Lap, WorkerMetrics
from services.ingest.processing.params import FileOptions
from services.ingest.processing.tools import WorkerTools


@dataclass(frozen=True)
class Examined:
    entry: dict[str, Any]
    digest: str
    ident: Identification
    scan: FileOutcome | None
    validation: FileOutcome | None
    characterization: Characterization
    package_kind: str | None
    # What each format policy rule did to this file, for the rules' counters.
    rule_outcomes: tuple[RuleOutcome, ...] = ()

    @property
    def infected(self) -> bool:
        return _infected(self.scan)

    @property
    def signature(self) -> str:
        return self.scan.events[0].outcome_note if self.scan is not None and self.scan.events else ""


def examine(tools: WorkerTools, data_dir: Path, entries: list[dict[str, Any]], options: FileOptions,
            open_packages: bool, rules: PolicyIndex, metrics: WorkerMetrics | None = None) -> list[Examined]:
    """Each file through each micro-service the options turn on, each step counted and timed in `metrics`."""
    results = []
    # Siegfried answers for the whole piece at once (FIDO has no such call): see identify_many.
    together = options.identify and options.identify_tool != "FIDO"
    identified, share = _identify_together(data_dir, entries) if together else ([], 0.0)
    for number, entry in enumerate(entries):
        path = data_dir / entry["p"]
        if not path.is_file():
            raise ApplicationError(f"{entry['p']} disappeared from the SIP", non_retryable=True)
        lap = Lap(metrics)
        digest = sha256_file(path)
        lap.done("checksum")
        scan = None
        if options.scan:
            scan = _scan(tools, path)
            lap.done("virus_scan", failed=_infected(scan))
        ident = UNIDENTIFIED
        if together:
            ident = identified[number]
            lap.took("identification", share)
        elif options.identify:
            ident = identify_with_fido(path, entry["s"])
            lap.done("identification")
        validation, counted = tools.validation.validate(path, ident.puid, rules) if ident.puid else (None, [])
        lap.done("validation", failed=validation is not None and validation.status is Status.FAILED)
        characterization = tools.characterizer.characterize(path, ident.puid, ident.format_name)
        lap.done("characterization", failed=not characterization.outcome.ok)
        # An infected package is never opened: its contents would only spread what the scan found.
        kind = package_kind(path, ident.puid) if open_packages and not _infected(scan) and entry["s"] > 0 else None
        results.append(Examined(entry, digest, ident, scan, validation, characterization, kind, tuple(counted)))
    return results


def _identify_together(data_dir: Path, entries: list[dict[str, Any]]) -> tuple[list[Identification], float]:
    """Each file's identification, and the seconds each file counts for it: its share of the whole call."""
    started = time.perf_counter()
    identified = identify_many([(data_dir / entry["p"], entry["s"]) for entry in entries])
    return identified, (time.perf_counter() - started) / max(len(entries), 1)


def _infected(scan: FileOutcome | None) -> bool:
    return scan is not None and scan.status is Status.FAILED


def _scan(tools: WorkerTools, path: Path) -> FileOutcome:
    if tools.scanner is None:
        return not_scanned(path, tools.no_scanner_reason)
    outcome = tools.scanner.scan(path)
    if outcome.status is Status.ERROR:
        # A dead or restarting clamd, or an unreadable file: retried by Temporal, never recorded as a result.
        raise ApplicationError(f"virus scan of {path.name} failed: {outcome.message}")
    return outcome
