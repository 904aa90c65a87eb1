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

    def batch_result(self, index: int) -> Path:
        return self.work / f"batch-{index:06d}.jsonl"

    @property
    def mets(self) -> Path:
        return self.data / f"METS.{self.ingest_uuid}.xml"

    @property
    def archive(self) -> Path:
        return self.base / f"{self.aip_name}.7z"
