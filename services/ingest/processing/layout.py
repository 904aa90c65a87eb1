"""Where an ingest's files sit inside the currently-processing folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SipLayout:
    processing_dir: Path
    ingest_uuid: str
    aip_name: str

    @property
    def base(self) -> Path:
        return self.processing_dir / "sips" / self.ingest_uuid

    @property
    def bag(self) -> Path:
        return self.base / self.aip_name

    @property
    def data(self) -> Path:
        return self.bag / "data"

    @property
    def work(self) -> Path:
        """Scratch files of the workflow (inventory, batch results); never part of the AIP."""
        return self.base / "work"

    @property
    def inventory(self) -> Path:
        return self.work / "inventory.jsonl"

    def round_inventory(self, round_: int) -> Path:
        """The files of a round: the transfer's own (0), then those extracted from the previous round's packages."""
        return self.inventory if round_ == 0 else self.work / f"inventory-{round_:02d}.jsonl"

    def batch_result(self, index: int) -> Path:
        return self.work / f"batch-{index:06d}.jsonl"

    def batch_summary(self, index: int) -> Path:
        """Written last by a batch: its presence means every side effect but the removals is done."""
        return self.work / f"batch-{index:06d}.summary.json"

    def file_events(self, index: int) -> Path:
        """Events Amber itself adds to a batch's files before they are processed (renames, unpacking)."""
        return self.work / f"amber-events-{index:06d}.jsonl"

    @property
    def rename_plan(self) -> Path:
        return self.work / "renames.json"

    @property
    def logs_rename_plan(self) -> Path:
        return self.work / "renames-logs.json"

    @property
    def logs_rename_events(self) -> Path:
        """Package events for names in `logs/` changed to fit a bag manifest (those files have no PREMIS object)."""
        return self.work / "renames-logs-events.jsonl"

    @property
    def quarantine(self) -> Path:
        """Infected files taken out of the SIP; kept, never deleted, outside every AIP."""
        return self.processing_dir / "quarantine" / self.ingest_uuid

    def normalization_ledgers(self, attempt: int) -> Path:
        """What each original of an attempt gave, one ledger per batch (see processing/normalizing.py)."""
        return self.work / f"normalize-{attempt:02d}"

    @property
    def normalization_manifest(self) -> Path:
        """Manifest lines (`p`, `sha256`, `s`) of the files an approved normalization added to the bag."""
        return self.work / "normalization-manifest.jsonl"

    @property
    def dip(self) -> Path:
        """Access copies are made here, outside the bag, for the DIP."""
        return self.base / "DIP"

    @property
    def mets(self) -> Path:
        return self.data / f"METS.{self.ingest_uuid}.xml"

    @property
    def archive(self) -> Path:
        return self.base / f"{self.aip_name}.7z"
