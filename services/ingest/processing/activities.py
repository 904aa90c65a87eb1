"""The ingest activities: every piece of I/O of the workflow, each safe to run again after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from lxml import etree
from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.ingest import (
    DecisionRead,
    IngestClient,
    IngestStatus,
    IngestUpdate,
    IngestWarning,
    JobStatus,
    JobUpsert,
    TaskRecord,
    TaskStatus,
)
from clients.ingest.fpr import RuleOutcome
from clients.metadata import (
    AgentRecord,
    AipPackageRecord,
    CharacteristicsRecord,
    EventRecord,
    FileRecord,
    MetadataClient,
    ObjectEventRecord,
    PackageUpsert,
)
from clients.storage import StorageClient
from servicekit.http import ServiceError
from servicekit.ids import derived_id
from servicekit.logs import package_id_var
from servicekit.xmlschema import validate_mets, validate_mets_stream
from services.ingest.fpr.index import PolicyIndex
from services.ingest.microservices.extraction import ExtractionLimits, extract_package
from services.ingest.microservices.results import EventSpec, Status, bounded
from services.ingest.microservices.structure_report import write_structure_report
from services.ingest.processing import decisions
from services.ingest.processing.bagging import BAGIT_TXT, bag_info_lines, encode_manifest_path, write_atomically
from services.ingest.processing.examine import Examined, examine
from services.ingest.processing.hashing import sha256_file
from services.ingest.processing.identification import fido_version, siegfried_version
from services.ingest.processing.inventory import RoundInventory, read_batch, write_inventory
from services.ingest.processing.journal import (
    JOURNAL_NAME,
    SUBMISSION_DOCUMENTATION,
    JournalSplitter,
    distribute_events,
    load_file_events,
    read_journal,
)
from services.ingest.processing.layout import SipLayout
from services.ingest.processing.metrics import Lap, WorkerMetrics, timed
from services.ingest.processing.names import sanitize_package_name
from services.ingest.processing.params import (
    Batch,
    BatchResult,
    Extracted,
    FileOptions,
    IngestParams,
    Inventory,
    PackedAip,
    StoredAip,
)
from services.ingest.processing.piped_validation import PipedValidation
from services.ingest.processing.removal import remove_tree
from services.ingest.processing.renaming import changed_files, package_rename_events, rename_events, sanitize_tree
from services.ingest.processing.tools import WorkerTools
from services.ingest.processing_configs.processing_mcp import read_processing_mcp
from services.ingest.settings import AipHandover, IngestSettings
from services.ingest.tool_guard import die_with_parent

log = logging.getLogger(__name__)
AMBER_VERSION = version("amber")
FILES_PER_THREAD_HOP = 25
HEARTBEAT_EVERY = 2.0  # seconds; the SDK throttles what it sends to the server, so this only bounds the delay
OUTPUT_LIMIT = 4000
T = TypeVar("T")
P = ParamSpec("P")
SEVEN_ZIP_METHODS = {"7z using bzip2": "bzip2", "7z using lzma": "lzma", "7z without compression": "copy"}
PROCESSING_MCP = "processingMCP.xml"
STRUCTURE_REPORT = "directory_tree.txt"
MAX_LISTED = 50
METS_TREE_LIMIT = 4 * 1024 * 1024
"""An AIP METS up to this size is validated as a tree (errors with their lines, ~20 MB of memory); larger ones
streaming (100,000 files, a 1 GB METS: 80 MB peak, 21 s)."""
METS_VALIDATION_DETAIL = (f'program="lxml"; version="{".".join(map(str, etree.LXML_VERSION))}"; '
                          f'libxml2="{".".join(map(str, etree.LIBXML_VERSION))}"; '
                          'schemas="METS 1.12.1, PREMIS 3.0, DC terms"')
MAX_OUTCOMES_PER_REPORT = 10_000


def aip_name(params: IngestParams) -> str:
    return f"{sanitize_package_name(params.name)}-{params.ingest_uuid}"


def transfer_label(params: IngestParams) -> str:
    """The transfer's folder name inside the SIP's metadata and logs, as Archivematica names it."""
    return f"{sanitize_package_name(params.name)}-{params.transfer_uuid}"


def kept_metadata(layout: SipLayout, params: IngestParams) -> Path:
    """Where the transfer's `metadata/` (and anything else beside `objects/`) is kept inside the SIP."""
    return layout.data / "objects" / "metadata" / "transfers" / transfer_label(params)


def journal_path(layout: SipLayout, params: IngestParams) -> Path:
    return layout.data / "logs" / "transfers" / transfer_label(params) / "logs" / JOURNAL_NAME


class IngestActivities:
    """Activities bound to one worker's settings and HTTP clients."""

    def __init__(self, settings: IngestSettings, tools: WorkerTools, metrics: WorkerMetrics | None = None) -> None:
        self.settings = settings
        self.tools = tools
        self.metrics = metrics
        token = settings.resolved_internal_token()
        self.ingest = IngestClient(settings.ingest_url, token=token)
        self.metadata = MetadataClient(settings.metadata_url, token=token, timeout=300)
        self.storage = StorageClient(settings.storage_url, token=token, timeout=600)
        self.file_thread_count = settings.worker_file_threads or max(4, 2 * (os.cpu_count() or 1))
        self.file_threads = ThreadPoolExecutor(self.file_thread_count, thread_name_prefix="examine")

    async def aclose(self) -> None:
        for client in (self.ingest, self.metadata, self.storage):
            await client.aclose()
        self.file_threads.shutdown(wait=False, cancel_futures=True)

    def all(self) -> list[Any]:
        return [self.read_processing_mcp, self.prepare_sip, self.process_batch, self.open_extracted,
                self.open_extracted_batches,
                self.record_transfer_metadata, self.build_bag, self.compress_aip, self.store_aip,
                self.finish_ingest, self.mark_ingest_failed, self.await_decision, self.reject_ingest,
                self.send_to_backlog, self.mark_ingest_cancelled, *self._normalization().all()]

    def _normalization(self) -> Any:
        # Imported here: that module builds on this one's helpers.
        from services.ingest.processing.normalizing import NormalizationActivities

        return NormalizationActivities(self)

    def layout(self, params: IngestParams) -> SipLayout:
        return SipLayout(self.settings.processing_dir, params.ingest_uuid, aip_name(params))

    # -- job records -------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def job(self, params: IngestParams, key: str, name: str, microservice: str,
                  files_total: int | None = None) -> AsyncIterator[JobUpsert]:
        """Record a job as running, then completed or failed (with a bounded message)."""
        package_id_var.set(params.ingest_uuid)
        ingest_uuid = UUID(params.ingest_uuid)
        job = JobUpsert(name=name, microservice=microservice, status=JobStatus.running, files_total=files_total,
                        files_done=0, started_at=datetime.now(UTC))
        await self.ingest.upsert_job(ingest_uuid, key, job)
        await self.ingest.update_ingest(ingest_uuid, IngestUpdate(status=IngestStatus.processing, current_job=name))
        try:
            yield job
        except BaseException as exc:
            job.status, job.exit_code = JobStatus.failed, 1
            cancelled = isinstance(exc, asyncio.CancelledError)
            job.message = "cancelled" if cancelled else (str(exc) or type(exc).__name__)[:OUTPUT_LIMIT]
            job.finished_at = datetime.now(UTC)
            self._job_done(job, "cancelled" if cancelled else "failed")
            with contextlib.suppress(Exception):
                await self.ingest.upsert_job(ingest_uuid, key, job)
            raise
        job.status, job.exit_code, job.finished_at = JobStatus.completed, 0, datetime.now(UTC)
        self._job_done(job, "completed")
        await self.ingest.upsert_job(ingest_uuid, key, job)

    def _job_done(self, job: JobUpsert, status: str) -> None:
        if self.metrics is not None and job.started_at is not None and job.finished_at is not None:
            self.metrics.job_done(job.microservice, status, (job.finished_at - job.started_at).total_seconds())

    def agents(self, params: IngestParams) -> list[AgentRecord]:
        return [
            AgentRecord(identifier_type="preservation system", identifier_value=f"Amber-{AMBER_VERSION}",
                        name="Amber", agent_type="software"),
            AgentRecord(identifier_type="repository code", identifier_value=self.settings.organization_code,
                        name=self.settings.organization_name, agent_type="organization"),
            AgentRecord(identifier_type="Amber user", identifier_value=params.created_by,
                        name=f'username="{params.created_by}"', agent_type="Amber user"),
        ]

    # -- prepare -----------------------------------------------------------------------------------------------

    @activity.defn(name="read_processing_mcp")
    async def read_processing_mcp(self, params: IngestParams) -> dict[str, str] | None:
        """The answers of a processingMCP.xml shipped in the transfer, which replace the configuration's."""
        transfer = self.settings.processing_dir / params.transfer_path
        kept = kept_metadata(self.layout(params), params)
        for candidate in (transfer / PROCESSING_MCP, kept / PROCESSING_MCP):
            if candidate.is_file():
                try:
                    read = read_processing_mcp(candidate.read_bytes())
                except ValueError as exc:
                    raise ApplicationError(f"the transfer's {PROCESSING_MCP} is unusable: {exc}",
                                           non_retryable=True) from exc
                # Choices Amber does not follow are recorded where a person sees them, not only in a log.
                warnings = [IngestWarning(source=PROCESSING_MCP, **dataclasses.asdict(item))
                            for item in read.unfollowed]
                if warnings:
                    await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(warnings=warnings))
                return read.decisions
        return None

    @activity.defn(name="prepare_sip")
    async def prepare_sip(self, params: IngestParams, structure_report: bool = False) -> Inventory:
        layout = self.layout(params)
        async with self.job(params, "prepare", "Create SIP from transfer", "Create SIP"):
            with timed(self.metrics, "prepare: arrange"):
                await _in_thread(self._arrange, params, layout)
            await self.metadata.upsert_package(
                UUID(params.ingest_uuid),
                PackageUpsert(name=sanitize_package_name(params.name), transfer_uuid=UUID(params.transfer_uuid)),
            )
            if structure_report:
                await _in_thread(self._structure_report, params, layout)
        async with self.job(params, "filenames", "Change object and directory filenames", "Clean up names"):
            with timed(self.metrics, "prepare: names and inventory"):
                inventory = await _in_thread(self._inventory, params, layout)
        await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(file_count=inventory.file_count))
        return inventory

    def _arrange(self, params: IngestParams, layout: SipLayout) -> None:
        """Lay the transfer out as the bag, as hard links: the transfer folder itself is kept, untouched, until
        the ingest has stored its package, so a failed or cancelled ingest can be retried from it (`POST
        /ingests/{id}/retry`). Built in a staging folder renamed into place last, so a retry after a crash either
        finds the whole arrangement or none of it."""
        if layout.bag.exists():
            return
        transfer = self.settings.processing_dir / params.transfer_path
        if not (transfer / "objects").is_dir():
            raise ApplicationError(f"transfer folder {params.transfer_path}/objects is missing", non_retryable=True)
        staging = layout.base / f".arranging-{layout.aip_name}"
        shutil.rmtree(staging, ignore_errors=True)
        data = staging / "data"
        objects = data / "objects"
        _link_tree(transfer / "objects", objects)
        label = transfer_label(params)
        metadata = data / "objects" / "metadata" / "transfers" / label
        kept_logs = data / "logs" / "transfers" / label
        documentation = transfer / "metadata" / SUBMISSION_DOCUMENTATION
        if documentation.is_dir():
            # Kept apart from the objects and from the other metadata, in its own fileGrp, as Archivematica does.
            target = objects / SUBMISSION_DOCUMENTATION / f"transfer-{label}"
            if target.exists():
                raise ApplicationError(f"cannot place submission documentation: {target} exists", non_retryable=True)
            _link_tree(documentation, target)
        for entry in sorted(transfer.iterdir()):
            if entry.name == "objects":
                continue
            target = kept_logs / "logs" if entry.name == "logs" else metadata / entry.name
            if entry.name == "metadata":
                target = metadata
            if target.exists():
                raise ApplicationError(f"cannot place transfer {entry.name}: {target} exists", non_retryable=True)
            if entry.is_dir():
                skip = documentation if entry.name == "metadata" else None
                _link_tree(entry, target, skip=skip)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                _link_file(entry, target)
        staging.rename(layout.bag)

    def _structure_report(self, params: IngestParams, layout: SipLayout) -> None:
        """`tree`-style listing of the objects as they arrived (before renaming), kept with the transfer's metadata."""
        kept = kept_metadata(layout, params)
        kept.mkdir(parents=True, exist_ok=True)
        report = kept / STRUCTURE_REPORT
        if not report.exists():
            layout.work.mkdir(parents=True, exist_ok=True)
            partial = layout.work / (STRUCTURE_REPORT + ".part")  # outside the tree it describes
            write_structure_report(layout.data / "objects", partial, label="objects")
            partial.replace(report)

    @staticmethod
    def _spread(params: IngestParams) -> int:
        """Batches enough to keep every batch slot of the package busy twice over (so a second worker gets some)."""
        return 2 * params.max_concurrent_batches

    def _inventory(self, params: IngestParams, layout: SipLayout) -> Inventory:
        layout.work.mkdir(parents=True, exist_ok=True)
        changes = sanitize_tree(layout.data / "objects", layout.rename_plan)
        found = write_inventory(layout.inventory, layout.data, [layout.data / "objects"],
                                batch_size=params.batch_size, first_index=0, round_=0,
                                original_of=changed_files(changes, "objects"), spread=self._spread(params))
        renamed = {f"objects/{c.old}": f"objects/{c.new}" for c in changes}
        journal = journal_path(layout, params)
        if journal.exists():
            JournalSplitter(layout.work).split(journal, found.batch_of, transfer_label(params), renamed)
        distribute_events(rename_events(params.ingest_uuid, changes, "objects"), found.batch_of, layout.file_events)
        self._bag_safe_logs(params, layout)
        return self._inventory_of(layout, found)

    def _bag_safe_logs(self, params: IngestParams, layout: SipLayout) -> None:
        """The transfer's logs keep their names (`100%done.txt` stays), but a name no BagIt 0.97 manifest can
        carry literally is changed, and the change recorded as a package event."""
        logs = layout.data / "logs"
        if not logs.is_dir():
            return
        changes = sanitize_tree(logs, layout.logs_rename_plan, bag_safe=True)
        write_atomically(layout.logs_rename_events, (
            json.dumps(record) + "\n" for record in package_rename_events(params.ingest_uuid, changes, "logs")
        ))

    def _inventory_of(self, layout: SipLayout, found: RoundInventory) -> Inventory:
        return Inventory(sip_dir=str(layout.bag.relative_to(self.settings.processing_dir)),
                         aip_name=layout.aip_name, file_count=found.count, total_bytes=found.total,
                         batches=found.batches)

    @activity.defn(name="open_extracted")
    async def open_extracted(self, params: IngestParams, round_: int, extracted: list[Extracted],
                             first_index: int, extracted_at: str) -> Inventory:
        """Sanitize the names inside the folders the last round's packages went to, and list their files as the
        next round, each with its `unpacking` event."""
        layout = self.layout(params)
        async with self.job(params, f"extracted-{round_:02d}", f"Process extracted files (level {round_})",
                            "Extract packages"):
            return await _in_thread(self._open_extracted, params, layout, round_, extracted,
                                                           first_index, extracted_at)

    @activity.defn(name="open_extracted_batches")
    async def open_extracted_batches(self, params: IngestParams, round_: int, batch_indexes: list[int],
                                     first_index: int, extracted_at: str) -> Inventory:
        """`open_extracted` for the packages the batches `batch_indexes` opened, read from their summaries."""
        extracted = await asyncio.to_thread(_extracted_by, self.layout(params), batch_indexes)
        return await self.open_extracted(params, round_, extracted, first_index, extracted_at)

    def _open_extracted(self, params: IngestParams, layout: SipLayout, round_: int, extracted: list[Extracted],
                        first_index: int, extracted_at: str) -> Inventory:
        original_of: dict[str, str] = {}
        events: list[dict[str, Any]] = []
        for number, opened in enumerate(extracted):
            changes = sanitize_tree(layout.data / opened.directory,
                                    layout.work / f"renames-{round_:02d}-{number:06d}.json")
            original_of.update(changed_files(changes, opened.directory))
            events.extend(rename_events(params.ingest_uuid, changes, opened.directory))
        found = write_inventory(layout.round_inventory(round_), layout.data,
                                [layout.data / opened.directory for opened in extracted],
                                batch_size=params.batch_size, first_index=first_index, round_=round_,
                                original_of=original_of, spread=self._spread(params))
        for opened, paths in zip(extracted, _paths_under([e.directory for e in extracted], list(found.batch_of)),
                                 strict=True):
            detail = f"Unpacked from: %transferDirectory%{opened.package} ({opened.package_uuid})"
            events.extend(
                {"path": path, "uuid": str(derived_id(params.ingest_uuid, "unpacking", path)), "type": "unpacking",
                 "datetime": extracted_at, "detail": detail, "outcome": "", "outcome_note": ""}
                for path in paths
            )
        distribute_events(events, found.batch_of, layout.file_events)
        return self._inventory_of(layout, found)

    # -- files -------------------------------------------------------------------------------------------------

    @activity.defn(name="process_batch")
    async def process_batch(self, params: IngestParams, batch: Batch, options: FileOptions) -> BatchResult:
        """Run the per-file micro-services over one batch and record each file with its PREMIS events.

        Files leave the SIP (a package deleted after extraction, an infected file quarantined) only after the
        batch's results are written, so a retried batch always finds what it examined.
        """
        layout = self.layout(params)
        key = f"batch-{batch.index:06d}"
        level = f", level {batch.round}" if batch.round else ""
        name = f"Process files: scan, identify, validate, characterize (batch {batch.index + 1}{level})"
        if layout.batch_summary(batch.index).exists():
            # Done before, by an attempt that died before it could say so: say so now, finish the removals.
            summary = json.loads(layout.batch_summary(batch.index).read_text(encoding="utf-8"))
            async with self.job(params, key, name, "Process files", files_total=batch.count) as job:
                job.files_done = batch.count
            await asyncio.to_thread(self._remove, layout, summary["removals"])
            return _batch_result(summary["result"])
        entries = await asyncio.to_thread(read_batch, layout.round_inventory(batch.round), batch)
        open_packages = options.extract and batch.round < params.max_extraction_depth
        # Read once per batch, so a rule created or disabled through the API holds from the next batch on.
        rules = PolicyIndex(await self.ingest.resolved_format_rules("validation"))
        async with self.job(params, key, name, "Process files", files_total=len(entries)) as job:
            results = await self._examine(layout, entries, options, open_packages, rules)
            extractions = await self._extract(params, layout, results, options)
            journal_events: dict[str, list[dict[str, Any]]] = {}
            for events_file in (JournalSplitter(layout.work).file_events(batch.index),
                                layout.file_events(batch.index)):
                for path, found in (await asyncio.to_thread(load_file_events, events_file)).items():
                    journal_events.setdefault(path, []).extend(found)
            removals: list[dict[str, str]] = []
            records, tasks = [], []
            finished = datetime.now(UTC)
            for examined in results:
                relative = examined.entry["p"]
                extraction = extractions.get(relative)
                removal = self._removal(params, examined, extraction, options)
                if removal is not None:
                    removals.append(removal)
                record = self._file_record(params, examined, journal_events.get(relative, []), options,
                                           extraction, removal)
                records.append(record)
                failed = examined.infected or (extraction is not None and extraction.status is Status.FAILED)
                tasks.append(TaskRecord(
                    path=relative, file_uuid=record.uuid, status=TaskStatus.failed if failed else TaskStatus.completed,
                    exit_code=1 if failed else 0, message=_task_message(examined, extraction, removal),
                    started_at=job.started_at, finished_at=finished,
                ))
            with timed(self.metrics, "batch: record files", files=len(records)):
                # The files' events are made without agents: these are theirs, sent once per request.
                await self.metadata.add_files(UUID(params.ingest_uuid), records, agents=self.agents(params))
            with timed(self.metrics, "batch: record tasks", tasks=len(tasks)):
                await self.ingest.record_tasks(UUID(params.ingest_uuid), key, tasks)
            await self._count_rule_outcomes([o for r in results for o in r.rule_outcomes])
            removed = {r["p"] for r in removals}
            await _in_thread(
                write_atomically, layout.batch_result(batch.index),
                # The PUID too: normalization chooses its rules by it without identifying the file again.
                (json.dumps({"p": r.entry["p"], "sha256": r.digest, "s": r.entry["s"], "f": r.ident.puid}) + "\n"
                 for r in results if r.entry["p"] not in removed),
            )
            result = BatchResult(
                index=batch.index, files=len(entries), bytes=sum(e["s"] for e in entries),
                infected=[r.entry["p"] for r in results if r.infected][:MAX_LISTED],
                extracted=[Extracted(directory=e.directory, package=path,
                                     package_uuid=str(derived_id(params.ingest_uuid, "file", path)))
                           for path, e in sorted(extractions.items()) if e.directory is not None],
                failed_tasks=sum(1 for t in tasks if t.status is TaskStatus.failed),
            )
            await asyncio.to_thread(write_atomically, layout.batch_summary(batch.index),
                                    [json.dumps({"result": dataclasses.asdict(result), "removals": removals})])
            job.files_done = len(entries)
        await asyncio.to_thread(self._remove, layout, removals)
        return result

    async def _examine(self, layout: SipLayout, entries: list[dict[str, Any]], options: FileOptions,
                       open_packages: bool, rules: PolicyIndex) -> list[Examined]:
        """The batch's files in pieces of FILES_PER_THREAD_HOP, several pieces at once on the worker's file
        threads (shared by all its batches), the results in the batch's order. A cancellation waits for the
        pieces already running (see _with_heartbeat), so nothing examines the SIP after the activity stops."""
        pieces = [entries[start:start + FILES_PER_THREAD_HOP]
                  for start in range(0, len(entries), FILES_PER_THREAD_HOP)]
        found: list[list[Examined]] = [[] for _ in pieces]
        submitted: list[Future[list[Examined]]] = []

        async def piece(index: int) -> int:
            future = self.file_threads.submit(examine, self.tools, layout.data, pieces[index], options,
                                              open_packages, rules, self.metrics)
            submitted.append(future)
            found[index] = await _with_heartbeat(asyncio.wrap_future(future), thread=True)
            return len(pieces[index])

        waiting = list(range(len(pieces)))
        running: set[asyncio.Task[int]] = set()
        examined = 0
        try:
            while waiting or running:
                # Two pieces per thread queued at most: batches in flight share the threads without one
                # batch's whole list waiting in the pool's queue.
                while waiting and len(running) < 2 * self.file_thread_count:
                    running.add(asyncio.ensure_future(piece(waiting.pop(0))))
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    examined += task.result()
                activity.heartbeat(examined)
        except BaseException:
            for future in submitted:
                future.cancel()  # those no thread has begun
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        return [examined_file for part in found for examined_file in part]

    async def _count_rule_outcomes(self, outcomes: list[RuleOutcome]) -> None:
        """The counters are statistics: a report that fails is logged, never a reason to redo a batch."""
        for start in range(0, len(outcomes), MAX_OUTCOMES_PER_REPORT):
            try:
                await self.ingest.record_format_rule_outcomes(outcomes[start:start + MAX_OUTCOMES_PER_REPORT])
            except ServiceError as exc:
                log.warning("format rule outcomes not counted: %s", exc)
                return

    async def _extract(self, params: IngestParams, layout: SipLayout, results: list[Examined],
                       options: FileOptions) -> dict[str, Extraction]:
        """Open the batch's packages next to themselves; a broken one fails alone, with the reason."""
        limits = ExtractionLimits(max_entries=self.settings.max_extracted_entries,
                                  max_total_bytes=int(self.settings.max_extracted_bytes_gb * 1024**3))
        extractions: dict[str, Extraction] = {}
        for examined in results:
            if examined.package_kind is None:
                continue
            relative = examined.entry["p"]
            package_uuid = str(derived_id(params.ingest_uuid, "file", relative))
            lap = Lap(self.metrics)
            extraction = await _in_thread(
                extract_package, layout.data / relative, package_uuid, kind=examined.package_kind,
                at=datetime.fromisoformat(options.extracted_at), event_path=relative, limits=limits,
                children=self.tools.children,
            )
            directory = (extraction.directory.relative_to(layout.data).as_posix()
                         if extraction.directory is not None else None)
            status, message = extraction.package.status, extraction.package.message
            lap.done("extraction", failed=status is Status.FAILED)
            if status is Status.FAILED and not message.startswith("extraction failed"):
                message = f"extraction failed: {message}"
            extractions[relative] = Extraction(status, message, directory, len(extraction.files))
        return extractions

    def _removal(self, params: IngestParams, examined: Examined, extraction: Extraction | None,
                 options: FileOptions) -> dict[str, str] | None:
        relative = examined.entry["p"]
        if examined.infected and options.quarantine:
            return {"p": relative, "action": "quarantine",
                    "note": f"infected ({examined.signature}); moved to quarantine/{params.ingest_uuid}/{relative}"}
        if extraction is not None and extraction.directory is not None and options.delete_packages:
            return {"p": relative, "action": "delete", "note": f"extracted to {extraction.directory}"}
        return None

    def _remove(self, layout: SipLayout, removals: list[dict[str, str]]) -> None:
        for removal in removals:
            source = layout.data / removal["p"]
            if removal["action"] == "quarantine":
                target = layout.quarantine / removal["p"]
                if source.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source.rename(target)
            else:
                source.unlink(missing_ok=True)

    def _file_record(self, params: IngestParams, examined: Examined, journal_events: list[dict[str, Any]],
                     options: FileOptions, extraction: Extraction | None,
                     removal: dict[str, str] | None) -> FileRecord:
        entry, digest, ident = examined.entry, examined.digest, examined.ident
        relative: str = entry["p"]
        file_uuid = derived_id(params.ingest_uuid, "file", relative)
        now = datetime.now(UTC)

        # No agents on the events: the batch's agents go once with the request (MetadataClient.add_files).
        def event(kind: str, detail: str, outcome: str, note: str) -> EventRecord:
            return EventRecord(uuid=derived_id(file_uuid, kind), type=kind, datetime=now, detail=detail,
                               outcome=outcome, outcome_note=note)

        identified = ident.puid is not None
        identification = [
            event("format identification", identification_detail(options.identify_tool),
                  "Positive" if identified else "Not identified", ident.puid or "No Matching Format"),
        ] if options.identify else []
        specs: list[EventSpec] = [
            *(examined.scan.events if examined.scan else ()),
            *(examined.validation.events if examined.validation else ()),
        ]
        if extraction is not None and extraction.status is Status.FAILED:
            specs.append(EventSpec("unpacking", f'program="{extraction_program(examined.package_kind)}"', "Fail",
                                   extraction.message))
        if removal is not None:
            detail = "quarantined: infected" if removal["action"] == "quarantine" else "removed after extraction"
            specs.append(EventSpec("file removed", detail, "", removal["note"]))
        characteristics = [
            CharacteristicsRecord(tool=o.tool, version=o.version, xml=o.text, truncated=o.truncated)
            for o in examined.characterization.outputs
        ]
        return FileRecord(
            uuid=file_uuid,
            path=relative,
            original_name=f"%transferDirectory%{entry.get('o', relative)}",
            size=entry["s"],
            checksum_type="sha256",
            checksum=digest,
            format_name=ident.format_name,
            format_version=ident.format_version,
            puid=ident.puid,
            # Why nothing matched (an empty file, an unreadable one) is worth a formatNote as much as why one did.
            format_basis=ident.basis or ident.warning,
            modified_at=datetime.fromtimestamp(entry["m"], UTC),
            use="deleted" if removal is not None else file_use(relative),
            characteristics=characteristics,
            events=[
                event("ingestion", "", "", ""),
                event("message digest calculation", 'program="python"; module="hashlib.sha256()"', "", digest),
                *identification,
                *(EventRecord(uuid=derived_id(file_uuid, spec.type, index), type=spec.type, datetime=spec.at,
                              detail=spec.detail, outcome=spec.outcome, outcome_note=spec.outcome_note)
                  for index, spec in enumerate(specs)),
                *(self._journal_event(params, record) for record in journal_events),
            ],
        )

    def _journal_event(self, params: IngestParams, record: dict[str, Any]) -> EventRecord:
        """An event intake performed (its identity fixed by its place in the journal), or one Amber added before
        the file was processed (renames, unpacking), which carries its own. Without agents, like the file's other
        events: the batch's go with the request."""
        return EventRecord(
            uuid=UUID(record["uuid"]) if "uuid" in record else derived_id(params.ingest_uuid, "journal",
                                                                           record["line"]),
            type=record["type"],
            datetime=datetime.fromisoformat(record["datetime"]),
            detail=record.get("detail") or "",
            outcome=record.get("outcome") or "",
            outcome_note=record.get("outcome_note") or "",
        )

    @activity.defn(name="record_transfer_metadata")
    async def record_transfer_metadata(self, params: IngestParams, inventory: Inventory,
                                       directory_uuids: bool = False) -> int:
        """Record what intake learned: package events, descriptive metadata, rights, identifiers, empty
        directories, and the transfer's own `mets_structmap.xml` and `premis.xml`. Every call is idempotent."""
        layout = self.layout(params)
        splitter = JournalSplitter(layout.work)
        package_uuid = UUID(params.ingest_uuid)
        recorded = 0
        async with self.job(params, "transfer-metadata", "Record transfer metadata", "Process metadata"):
            for package_events in (splitter.package_events, layout.logs_rename_events):
                if not package_events.exists():
                    continue
                agents = self.agents(params)
                events = [
                    ObjectEventRecord(**self._journal_event(params, record).model_dump(exclude={"agents"}),
                                      agents=agents, object_uuid=None)
                    for record in await asyncio.to_thread(_journal_records, package_events)
                ]
                if events:
                    await self.metadata.add_events(package_uuid, events)
                recorded += len(events)
            by_kind: dict[str, list[dict[str, Any]]] = {}
            if splitter.records.exists():
                for record in await asyncio.to_thread(_journal_records, splitter.records):
                    by_kind.setdefault(record["record"], []).append(record)
            forwarders = {
                "dublin_core": lambda rs: self.metadata.add_descriptive_metadata(package_uuid, rs),
                "custom_metadata": lambda rs: self.metadata.add_descriptive_metadata(package_uuid, rs, kind="custom"),
                "rights": lambda rs: self.metadata.add_rights(package_uuid, rs),
                "identifiers": lambda rs: self.metadata.add_identifiers(package_uuid, rs),
                "empty_directory": lambda rs: self.metadata.add_directories(package_uuid, [r["path"] for r in rs]),
            }
            for kind, forward in forwarders.items():
                if by_kind.get(kind):
                    await forward(by_kind[kind])
                    recorded += len(by_kind[kind])
            if directory_uuids:
                directories = await _in_thread(_directories, layout.data)
                await self.metadata.add_directories(package_uuid, directories, empty=False)
                recorded += len(directories)
            metadata_dir = kept_metadata(layout, params)
            structmap = metadata_dir / "mets_structmap.xml"
            if structmap.is_file():
                await self.metadata.put_custom_structmap(package_uuid, structmap.read_text(encoding="utf-8"))
            premis = metadata_dir / "premis.xml"
            if premis.is_file():
                await self.metadata.import_transfer_premis(package_uuid, premis)
        return recorded

    # -- bag ---------------------------------------------------------------------------------------------------

    @activity.defn(name="build_bag")
    async def build_bag(self, params: IngestParams, inventory: Inventory) -> None:
        """METS from the metadata service, then manifests from the digests the batches computed."""
        layout = self.layout(params)
        async with self.job(params, "bag", "Generate METS and prepare AIP", "Prepare AIP"):
            partial = layout.mets.with_name(layout.mets.name + ".part")
            # Validated while it arrives, on a thread reading a pipe, so the metadata service writes the next
            # files' amdSecs while this process checks the last ones. "METS validation" is what is left of the
            # validation once the last byte has arrived.
            with timed(self.metrics, "bag: METS download") as noted:
                async with PipedValidation(validate_mets_stream) as validation:
                    noted["bytes"] = await _with_heartbeat(self.metadata.download_mets(
                        UUID(params.ingest_uuid), partial, also=validation.feed))
            with timed(self.metrics, "bag: METS validation"):
                errors = await _with_heartbeat(validation.errors(), thread=True)
                if errors:  # told again from the file, with lines where it is small enough to hold as a tree
                    errors = await _in_thread(validate_mets, partial, tree_limit=METS_TREE_LIMIT)
            if errors:
                await self._mets_invalid(params, errors)
            partial.replace(layout.mets)
            await _in_thread(self._write_bag, params, inventory, layout)

    async def _mets_invalid(self, params: IngestParams, errors: list[str]) -> None:
        """Record the failed validation as a package event, then fail the ingest with the errors (no AIP)."""
        listed = "; ".join(errors[:MAX_LISTED]) + (f"; and {len(errors) - MAX_LISTED} more"
                                                     if len(errors) > MAX_LISTED else "")
        await self.metadata.add_events(UUID(params.ingest_uuid), [ObjectEventRecord(
            uuid=derived_id(params.ingest_uuid, "mets validation"), type="validation",
            datetime=datetime.now(UTC), detail=METS_VALIDATION_DETAIL, outcome="fail",
            outcome_note=listed[:OUTPUT_LIMIT], agents=self.agents(params), object_uuid=None,
        )])
        raise ApplicationError(f"the AIP METS is not valid ({len(errors)} errors): {listed}"[:OUTPUT_LIMIT],
                               non_retryable=True)

    def _write_bag(self, params: IngestParams, inventory: Inventory, layout: SipLayout) -> None:
        import bagit

        with timed(self.metrics, "bag: tag file digests"):
            extra = [layout.mets, *sorted(p for p in (layout.data / "logs").rglob("*") if p.is_file())]
            extra_digests = [(p.relative_to(layout.bag).as_posix(), sha256_file(p), p.stat().st_size) for p in extra]

        # Payload-Oxum counts what the bag holds: files removed from the SIP are in no batch result.
        payload = [0, 0]

        def manifest_lines() -> Any:
            for batch in inventory.batches:
                with layout.batch_result(batch.index).open(encoding="utf-8") as handle:
                    for line in handle:
                        row = json.loads(line)
                        payload[0] += row["s"]
                        payload[1] += 1
                        yield f"{row['sha256']}  {encode_manifest_path('data/' + row['p'])}\n"
            normalized = layout.normalization_manifest
            if normalized.exists():  # what an approved normalization added (derivatives, OCR text, thumbnails)
                with normalized.open(encoding="utf-8") as handle:
                    for line in handle:
                        row = json.loads(line)
                        payload[0] += row["s"]
                        payload[1] += 1
                        yield f"{row['sha256']}  {encode_manifest_path('data/' + row['p'])}\n"
            for relative, digest, size in extra_digests:
                payload[0] += size
                payload[1] += 1
                yield f"{digest}  {encode_manifest_path(relative)}\n"

        with timed(self.metrics, "bag: manifest"):
            manifest_digest = write_atomically(layout.bag / "manifest-sha256.txt", manifest_lines())
        bagit_digest = write_atomically(layout.bag / "bagit.txt", [BAGIT_TXT])
        info = bag_info_lines(
            software=f"Amber {AMBER_VERSION}",
            external_identifier=params.ingest_uuid,
            payload_bytes=payload[0],
            payload_files=payload[1],
            bagging_date=date.today(),
        )
        info_digest = write_atomically(layout.bag / "bag-info.txt", info)
        write_atomically(layout.bag / "tagmanifest-sha256.txt", [
            f"{bagit_digest}  bagit.txt\n", f"{info_digest}  bag-info.txt\n",
            f"{manifest_digest}  manifest-sha256.txt\n",
        ])
        try:
            with timed(self.metrics, "bag: completeness check"):
                bagit.Bag(str(layout.bag)).validate(completeness_only=True)
        except bagit.BagError as exc:
            raise ApplicationError(f"the AIP bag is incomplete: {exc}", non_retryable=True) from exc

    # -- compress ----------------------------------------------------------------------------------------------

    @activity.defn(name="compress_aip")
    async def compress_aip(self, params: IngestParams, inventory: Inventory, algorithm: str,
                           level: str) -> PackedAip:
        layout = self.layout(params)
        method = SEVEN_ZIP_METHODS[algorithm]
        async with self.job(params, "compress", "Compress AIP", "Prepare AIP"):
            output = ""
            if not layout.archive.exists():
                with timed(self.metrics, "compress: 7z", method=method, level=level):
                    output = await self._seven_zip(layout, method, int(level))
            with timed(self.metrics, "compress: AIP sha256"):
                digest = await _in_thread(sha256_file, layout.archive)
            with timed(self.metrics, "compress: event"):
                await self._compression_event(params, method, level, output)
        return PackedAip(path=str(layout.archive.relative_to(self.settings.processing_dir)),
                         size=layout.archive.stat().st_size, sha256=digest,
                         compression=f"7z-{SEVEN_ZIP_METHODS[algorithm]}")

    async def _compression_event(self, params: IngestParams, method: str, level: str, output: str) -> None:
        """The AIP's `compression` event (its pointer file shows it, as Archivematica's does)."""
        program_version = await seven_zip_version(self.settings.seven_zip)
        await self.metadata.add_events(UUID(params.ingest_uuid), [ObjectEventRecord(
            uuid=derived_id(params.ingest_uuid, "compression"), type="compression", datetime=datetime.now(UTC),
            detail=f'program="7z"; version="{program_version}"; algorithm="{method}"; level="{level}"',
            outcome="Pass", outcome_note=output, agents=self.agents(params), object_uuid=None,
        )])

    async def _seven_zip(self, layout: SipLayout, method: str, level: int) -> str:
        """Compress the bag; returns 7-Zip's output as the event note (`Standard Output="…"; Standard Error="…"`)."""
        # One part file per attempt: an orphaned 7z of a dead worker can never write into this attempt's file.
        part = layout.base / f"{layout.aip_name}.7z.part-{activity.info().attempt}"
        part.unlink(missing_ok=True)
        command = [
            self.settings.seven_zip, "a", "-bd", "-t7z", "-y",
            f"-m0={method}", f"-mx={level}",
            "-mta=on", "-mtc=on", "-mtm=on", "-mmt=on", "-mf=off", str(part), layout.aip_name,
        ]
        process = await asyncio.create_subprocess_exec(
            *command, cwd=layout.base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=die_with_parent,
        )
        try:
            stdout, stderr = await _with_heartbeat(process.communicate())
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            part.unlink(missing_ok=True)
            raise
        if process.returncode != 0:
            part.unlink(missing_ok=True)
            output = (stderr or stdout).decode("utf-8", "replace")[-OUTPUT_LIMIT:]
            raise ApplicationError(f"7z exited with {process.returncode}: {output}")
        part.replace(layout.archive)
        shown = [(stream or b"").decode("utf-8", "replace").strip()[-OUTPUT_LIMIT // 2:] for stream in (stdout, stderr)]
        return f'Standard Output="{shown[0]}"; Standard Error="{shown[1]}"'

    # -- store -------------------------------------------------------------------------------------------------

    @activity.defn(name="store_aip")
    async def store_aip(self, params: IngestParams, inventory: Inventory, packed: PackedAip) -> StoredAip:
        """Hand the AIP to storage; storing the same package again is answered with the first copy.

        Where storage shares this worker's filesystem the file is moved in (no copy of a multi-GB AIP);
        otherwise, or when storage cannot reach the file, it is streamed over HTTP.
        """
        aip_uuid, name = UUID(params.ingest_uuid), sanitize_package_name(params.name)
        source = self.settings.processing_dir / packed.path
        async with self.job(params, "store", "Store AIP", "Store AIP"):
            stored = None
            if self.settings.aip_handover != AipHandover.upload:
                try:
                    stored = await _with_heartbeat(self.storage.move_aip_in(aip_uuid, name, packed.sha256, source))
                except ServiceError as exc:
                    if self.settings.aip_handover == AipHandover.move or exc.status is None or exc.status >= 500:
                        raise
                    log.info("storage cannot move %s in (%s); uploading it", source, exc)
            if stored is None:
                stored = await _with_heartbeat(self.storage.store_aip(aip_uuid, name, packed.sha256, source,
                                                                      extension="7z"))
        if stored.sha256 != packed.sha256:
            raise ApplicationError("storage holds a different package under this AIP's UUID", non_retryable=True)
        return StoredAip(location_uuid=str(stored.location_uuid), current_path=stored.current_path,
                         size=packed.size, sha256=packed.sha256, compression=packed.compression)

    @activity.defn(name="finish_ingest")
    async def finish_ingest(self, params: IngestParams, inventory: Inventory, stored: StoredAip) -> None:
        layout = self.layout(params)
        # Marks the package stored in the record (pointer file data) and queues it for search; indexing is
        # asynchronous there, so a slow or failed index never holds up or fails the ingest.
        with timed(self.metrics, "finish: record AIP"):
            await self.metadata.record_aip(UUID(params.ingest_uuid), AipPackageRecord(
                size=stored.size, checksum=stored.sha256, compression=stored.compression,
                program_version=await seven_zip_version(self.settings.seven_zip), path=stored.current_path,
            ))
        # Stored beside the compressed AIP, as Archivematica's storage service does; rendered now that the record
        # knows the stored file (an uncompressed AIP has none).
        with timed(self.metrics, "finish: pointer file"):
            pointer = await self.metadata.pointer_file(UUID(params.ingest_uuid))
            await self.storage.store_pointer_file(UUID(params.ingest_uuid), pointer)
        # The stored copy was verified by its sha256 on arrival, so the working copy (and the transfer kept for a
        # retry) can go, before the status says `stored`: a client that sees the final status can rely on it.
        with timed(self.metrics, "finish: remove working copies"):
            await _in_thread(self._remove_working_copies, params, layout)
        await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(
            status=IngestStatus.stored, current_job=None, aip_path=stored.current_path,
            aip_location_uuid=UUID(stored.location_uuid), aip_size=stored.size, aip_sha256=stored.sha256,
        ))

    def _remove_working_copies(self, params: IngestParams, layout: SipLayout) -> None:
        remove_tree(layout.base)
        remove_tree(self.settings.processing_dir / params.transfer_path)

    @activity.defn(name="send_to_backlog")
    async def send_to_backlog(self, params: IngestParams) -> None:
        """The processed transfer (objects, metadata, logs; every file already recorded with its checksum) goes to
        the storage backlog as a folder, for SIP creation later."""
        layout = self.layout(params)
        async with self.job(params, "backlog", "Send to backlog", "Create SIP"):
            if layout.bag.exists():
                stored = await _with_heartbeat(self.storage.store_backlog_transfer(
                    UUID(params.transfer_uuid), sanitize_package_name(params.name), layout.bag,
                ))
            else:
                # An earlier attempt stored it and removed the SIP, then died before it could say so.
                stored = await self.storage.get_package(UUID(params.transfer_uuid))
        log.info("transfer %s stored in the backlog at %s", params.transfer_uuid, stored.current_path)
        # Removed before the status says `backlogged` (the order the backlog test relied on).
        await _in_thread(self._remove_working_copies, params, layout)
        await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(status=IngestStatus.backlogged,
                                                                               current_job=None))

    @activity.defn(name="await_decision")
    async def await_decision(self, params: IngestParams, point: str) -> None:
        ingest_uuid = UUID(params.ingest_uuid)
        decision = DecisionRead(point=point, question=decisions.question(point), choices=decisions.choices(point))
        await self.ingest.update_ingest(ingest_uuid, IngestUpdate(
            status=IngestStatus.awaiting_decision, current_job=f"Awaiting decision: {decision.question}",
            decision=decision,
        ))

    @activity.defn(name="reject_ingest")
    async def reject_ingest(self, params: IngestParams, reason: str) -> None:
        # The SIP stays in the processing folder: a rejection is an archivist's call, never a silent deletion.
        await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(
            status=IngestStatus.rejected, current_job=None, error=reason,
        ))

    @activity.defn(name="mark_ingest_cancelled")
    async def mark_ingest_cancelled(self, params: IngestParams) -> None:
        """The workflow has stopped (its activities too): only now does the status say `cancelled`."""
        await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(
            status=IngestStatus.cancelled, current_job=None, decision=None, cancelled_at=datetime.now(UTC),
        ))

    @activity.defn(name="mark_ingest_failed")
    async def mark_ingest_failed(self, params: IngestParams, reason: str) -> None:
        await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(
            status=IngestStatus.failed, error=reason[:OUTPUT_LIMIT],
        ))


@dataclass(frozen=True)
class Extraction:
    """What opening one package did, reduced to what the records and the next round need."""

    status: Status
    message: str
    directory: str | None  # relative to the bag's data/
    files: int


def file_use(relative: str) -> str:
    """The METS fileGrp of a file, by where it sits in the SIP."""
    if relative.startswith(f"objects/{SUBMISSION_DOCUMENTATION}/"):
        return SUBMISSION_DOCUMENTATION
    if relative.startswith("objects/metadata/"):
        return "metadata"
    return "original"


def identification_detail(tool: str) -> str:
    if tool == "FIDO":
        return f'program="Fido"; version="{fido_version()}"'
    return f'program="Siegfried"; version="{siegfried_version()}"'


def extraction_program(kind: str | None) -> str:
    return "7z" if kind in ("zip", "7z") else "unar"


def _task_message(examined: Examined, extraction: Extraction | None, removal: dict[str, str] | None) -> str:
    parts = [f"sha256 {examined.digest}"]
    if examined.scan is not None:
        parts.append(f"virus check: {examined.scan.message or examined.scan.status.value}")
    parts.append(f"format: {examined.ident.puid or examined.ident.format_name}")
    if examined.validation is not None and examined.validation.events:
        parts.append(examined.validation.message)
    parts.append(examined.characterization.outcome.message)
    if extraction is not None:
        parts.append(extraction.message)
    if removal is not None:
        parts.append(f"removed from the SIP: {removal['note']}")
    return bounded("; ".join(p for p in parts if p))


def _batch_result(data: dict[str, Any]) -> BatchResult:
    return BatchResult(**{**data, "extracted": [Extracted(**e) for e in data["extracted"]]})


async def _with_heartbeat(awaitable: Awaitable[T], *, thread: bool = False) -> T:
    """Await `awaitable` while telling Temporal every few seconds that this worker is alive.

    A cancellation of the activity arrives through a heartbeat (as CancelledError here) and is passed on to
    `awaitable`. A thread cannot be interrupted, so for one the activity ends only once the thread's piece of
    work (at most FILES_PER_THREAD_HOP files of a batch) is done: nothing writes into the SIP after the activity
    has said it stopped."""
    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
            if done:
                return task.result()
            activity.heartbeat()
    except asyncio.CancelledError:
        if thread:
            await asyncio.wait({task})
        else:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        raise


async def _in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking work on a thread, heartbeating meanwhile (see _with_heartbeat for cancellation)."""
    return await _with_heartbeat(asyncio.to_thread(function, *args, **kwargs), thread=True)


def _stop_if_cancelled() -> None:
    """For long loops on a thread: the activity's cancellation (seen at a heartbeat) stops them at the next step
    instead of at the end."""
    if activity.in_activity() and activity.is_cancelled():
        raise asyncio.CancelledError("the activity was cancelled")


def _link_file(source: Path, target: Path) -> None:
    """A hard link (no copy of the bytes); a copy only where the filesystem has no hard links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _link_tree(source: Path, target: Path, skip: Path | None = None) -> None:
    """`source`'s folders recreated under `target` (empty ones too), its files hard-linked; `skip` left out."""
    target.mkdir(parents=True, exist_ok=True)
    for dirpath, dirs, files in os.walk(source):
        here = Path(dirpath)
        if skip is not None:
            dirs[:] = [d for d in dirs if here / d != skip]
        destination = target / here.relative_to(source)
        _stop_if_cancelled()
        for name in dirs:
            (destination / name).mkdir(exist_ok=True)
        for name in files:
            _link_file(here / name, destination / name)


def _directories(data: Path) -> list[str]:
    """Every folder under objects/ (paths relative to the bag's data/), for their UUIDs."""
    found: list[str] = []
    for dirpath, dirs, _files in os.walk(data / "objects"):
        dirs.sort()
        found.extend((Path(dirpath) / name).relative_to(data).as_posix() for name in dirs)
    return found


def _extracted_by(layout: SipLayout, batch_indexes: list[int]) -> list[Extracted]:
    """The packages the batches opened, in the order the workflow lists them (by batch, then by path)."""
    return [
        extracted
        for index in sorted(batch_indexes)
        for extracted in _batch_result(json.loads(layout.batch_summary(index).read_text(encoding="utf-8"))
                                       ["result"]).extracted
    ]


def _paths_under(directories: list[str], paths: list[str]) -> list[list[str]]:
    """For each directory, the paths below it (in their order): one pass over the paths, each looked up by its
    ancestors, not every path tested against every directory (thousands of packages in one round)."""
    below: list[list[str]] = [[] for _ in directories]
    index: dict[str, list[int]] = {}
    for number, directory in enumerate(directories):
        index.setdefault(directory, []).append(number)
    for path in paths:
        cut = path.rfind("/")
        while cut > 0:
            for number in index.get(path[:cut], ()):
                below[number].append(path)
            cut = path.rfind("/", 0, cut)
    return below


def _journal_records(path: Path) -> list[dict[str, Any]]:
    return [record for _number, record in read_journal(path)]


async def seven_zip_version(binary: str) -> str:
    """The 7-Zip version, for the pointer file's creating application."""
    process = await asyncio.create_subprocess_exec(binary, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out, _ = await process.communicate()
    for line in out.decode("utf-8", "replace").splitlines():
        if line.strip().startswith("7-Zip"):
            return line.strip()[:255]
    return ""
