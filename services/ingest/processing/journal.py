"""The transfer journal (`logs/amber-transfer.jsonl`, see docs/ARCHITECTURE.md), sorted for the batches.

Intake knows files by their path in the transfer; ingest knows them by batch. While the SIP is prepared, the
journal is read once, streaming, and split: events about a file of the inventory go to that file's batch, the
rest (package events, events about removed files) and every non-event record go to files of their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

JOURNAL_NAME = "amber-transfer.jsonl"


SUBMISSION_DOCUMENTATION = "submissionDocumentation"


def transfer_path_to_sip(path: str, transfer_label: str) -> str:
    """Where a transfer path sits in the SIP: `metadata/submissionDocumentation/…` moves to
    `objects/submissionDocumentation/transfer-<label>/`, the rest of `metadata/…` under
    `objects/metadata/transfers/<label>/`."""
    documentation = f"metadata/{SUBMISSION_DOCUMENTATION}"
    if path == documentation or path.startswith(documentation + "/"):
        return f"objects/{SUBMISSION_DOCUMENTATION}/transfer-{transfer_label}{path[len(documentation):]}"
    if path == "metadata" or path.startswith("metadata/"):
        return f"objects/metadata/transfers/{transfer_label}{path[len('metadata'):]}"
    return path


def read_journal(journal: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The journal's records with their line numbers (which make stable event identities)."""
    with journal.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, json.loads(line)


class JournalSplitter:
    """Appends records to per-batch and per-kind files under the workflow's scratch folder."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.handles: dict[str, Any] = {}

    def file_events(self, batch: int) -> Path:
        return self.work / f"events-{batch:06d}.jsonl"

    @property
    def package_events(self) -> Path:
        return self.work / "package-events.jsonl"

    @property
    def records(self) -> Path:
        return self.work / "records.jsonl"

    def write(self, target: Path, record: dict[str, Any]) -> None:
        key = str(target)
        if key not in self.handles:
            self.handles[key] = target.open("w", encoding="utf-8")
        self.handles[key].write(json.dumps(record) + "\n")

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()

    def split(self, journal: Path, batch_of: dict[str, int], transfer_label: str,
              renamed: Mapping[str, str] | None = None) -> int:
        """Sort the journal; returns how many records it held. Rewrites everything, so it is safe to repeat.

        `renamed` maps SIP paths to the names sanitization gave them, so intake's records follow their files.
        """
        renamed = renamed or {}
        for stale in self.work.glob("events-*.jsonl"):
            stale.unlink()
        count = 0
        try:
            for number, record in read_journal(journal):
                count += 1
                record["line"] = number
                if record.get("path"):
                    sip_path = transfer_path_to_sip(record["path"], transfer_label)
                    record["path"] = renamed.get(sip_path, sip_path)
                if record.get("record") != "event":
                    self.write(self.records, record)
                elif record.get("path") in batch_of:
                    self.write(self.file_events(batch_of[record["path"]]), record)
                else:
                    self.write(self.package_events, record)
        finally:
            self.close()
        for target in (self.package_events, self.records):
            if not target.exists():
                target.touch()
        return count


def distribute_events(records: Iterable[dict[str, Any]], batch_of: Mapping[str, int],
                      target: Callable[[int], Path]) -> None:
    """Write events keyed by `path` to the files of their batches, replacing those files (unknown paths dropped)."""
    splitter = JournalSplitter(Path())
    try:
        for record in records:
            batch = batch_of.get(record["path"])
            if batch is not None:
                splitter.write(target(batch), record)
    finally:
        splitter.close()


def load_file_events(path: Path) -> dict[str, list[dict[str, Any]]]:
    events: dict[str, list[dict[str, Any]]] = {}
    if path.exists():
        for _number, record in read_journal(path):
            events.setdefault(record["path"], []).append(record)
    return events
