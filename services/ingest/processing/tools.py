"""The tools one worker keeps for its whole life: its clamd, one ExifTool process, the validators.

Starting them once per worker (not per file, not per batch) is what keeps the per-file cost at a socket
round-trip or a line on a pipe rather than a process start-up.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from services.ingest.child_processes import ChildProcesses
from services.ingest.fpr.runner import CommandRunner
from services.ingest.microservices.characterization import Characterizer
from services.ingest.microservices.validation import ValidationService
from services.ingest.microservices.virus_scan import Clamd, ClamdClient, ClamdLimits, VirusScanner
from services.ingest.settings import IngestSettings
from services.ingest.tool_usage import ToolUsage

log = logging.getLogger(__name__)

# ClamAV database files (official containers and the custom signature formats).
SIGNATURE_SUFFIXES = frozenset({
    ".cvd", ".cld", ".cud", ".hdb", ".hsb", ".hdu", ".hsu", ".mdb", ".msb", ".mdu", ".msu", ".ndb", ".ndu",
    ".ldb", ".ldu", ".cdb", ".yar", ".yara",
})


def has_signatures(database_dir: Path) -> bool:
    try:
        return any(entry.suffix in SIGNATURE_SUFFIXES and entry.is_file() for entry in database_dir.iterdir())
    except OSError:
        return False


@dataclass
class WorkerTools:
    characterizer: Characterizer
    validation: ValidationService
    scanner: VirusScanner | None
    # Starts the one-off tools (validators, MediaInfo, archivers) and counts their CPU.
    children: ChildProcesses
    # Why there is no scanner; recorded on every file as the reason it was not scanned.
    no_scanner_reason: str = ""
    clamd: Clamd | None = None
    clamd_dir: Path | None = None

    @classmethod
    def start(cls, settings: IngestSettings, usage: ToolUsage | None = None) -> WorkerTools:
        """Call from the worker's main thread: clamd is tied to the starting thread and dies with it."""
        size = settings.clamav_max_file_size_mb * 1024 * 1024
        limits = ClamdLimits.for_file_size(size)
        children = ChildProcesses(usage)
        tools = cls(Characterizer(children=children), ValidationService(CommandRunner(children=children)), None,
                    children)
        if settings.clamd_socket is not None:
            tools.scanner = VirusScanner(ClamdClient(settings.clamd_socket), limits)
            return tools
        if not has_signatures(settings.clamav_database_dir):
            tools.no_scanner_reason = f"no ClamAV signature database in {settings.clamav_database_dir}"
            log.warning("virus scanning unavailable: %s; files will be recorded as not scanned",
                        tools.no_scanner_reason)
            return tools
        # A short private folder: AF_UNIX socket paths are limited to 108 bytes.
        tools.clamd_dir = Path(tempfile.mkdtemp(prefix="amber-clamd-"))
        tools.clamd = Clamd(tools.clamd_dir, settings.clamav_database_dir, limits, max_threads=settings.clamd_threads)
        try:
            tools.clamd.start()
        except Exception:
            tools.close()
            raise
        tools.scanner = VirusScanner(tools.clamd.client(), limits)
        log.info("clamd started (pid %s) with signatures from %s", tools.clamd.pid, settings.clamav_database_dir)
        return tools

    def close(self) -> None:
        self.characterizer.close()
        self.validation.close()
        self.children.close()
        if self.clamd is not None:
            self.clamd.stop()
        if self.clamd_dir is not None:
            shutil.rmtree(self.clamd_dir, ignore_errors=True)
