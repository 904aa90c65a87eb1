"""The ingest workflow: thin and deterministic; every piece of I/O happens in an activity.

Order: prepare the SIP (move the transfer into bag layout, structure report, sanitize names, inventory) → per batch
of files: UUIDs, checksum, virus scan, format identification, validation, characterization, package extraction,
with their PREMIS events → the files extracted from packages, as a new round of batches, down to the depth limit →
transfer metadata → create SIP → bag (METS from the metadata service, manifests) → compress → store → finish.
A failure anywhere marks the ingest failed with the reason and leaves the files where they are. A cancellation
(`POST /ingests/{id}/cancel`, i.e. Temporal workflow cancellation) reaches the running activities at their next
heartbeat; the workflow waits until they have stopped, then marks the ingest cancelled: once the status says so,
nothing writes into the processing location any more and the clean-up may remove it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from clients.ingest.processing import ASK, CREATE_SIP, SEND_TO_BACKLOG
    from services.ingest.processing.decisions import choices
    from services.ingest.processing.params import (
        Batch,
        BatchResult,
        Extracted,
        FileOptions,
        IngestParams,
        Inventory,
        PackedAip,
        StoredAip,
        Wanted,
    )

MANUALLY = "Normalize manually"
PRESERVATION_CHOICES = frozenset({"Normalize for preservation and access", "Normalize for preservation", MANUALLY})
ACCESS_CHOICES = frozenset({"Normalize for preservation and access", "Normalize for access",
                            "Normalize service files for access", MANUALLY})
MAX_NORMALIZATION_ATTEMPTS = 20

# Infrastructure hiccups (a service restarting, a dead worker) are retried; what a retry cannot fix
# (bad input, a checksum mismatch) is raised by the activities as non-retryable.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=30), maximum_attempts=8)


@workflow.defn(name="IngestWorkflow")
class IngestWorkflow:
    def __init__(self) -> None:
        self._stage = "queued"
        self._files_total = 0
        self._batches_done = 0
        self._batches_total = 0
        self._answers: dict[str, str] = {}
        self._awaiting: str | None = None
        self._decisions: dict[str, str] = {}
        self._cancel_requested = False
        self._dip = False  # access copies were made and approved: there is a DIP to store

    @workflow.signal
    def request_cancel(self) -> None:
        """Sent with the workflow cancellation: an activity that completes regardless (it had no heartbeat to be
        told through) must not carry the workflow on past the request."""
        self._cancel_requested = True

    @workflow.update(name="answer_decision")
    def answer_decision(self, point: str, choice: str) -> None:
        """A person's answer to the decision point the workflow waits at. An update, not a signal: the caller
        learns whether the workflow took the answer, and records it only then."""
        if point in self._answers:  # two answers validated before either handler ran: the first one counts
            raise ApplicationError(f"{point!r} is already answered")
        self._answers[point] = choice

    @answer_decision.validator
    def _check_answer(self, point: str, choice: str) -> None:
        # Refused answers never enter the history.
        if self._awaiting != point or point in self._answers:
            raise ValueError(f"the ingest is not waiting for {point!r}")
        if choice not in choices(point):
            raise ValueError(f"{choice!r} is not one of {choices(point)}")

    @workflow.signal
    def decide(self, point: str, choice: str) -> None:
        """The answer as a signal, as ingest services before the `answer_decision` update sent it: kept so that
        histories holding such signals still replay."""
        self._answers[point] = choice

    @workflow.query
    def progress(self) -> dict[str, object]:
        return {
            "stage": self._stage,
            "files_total": self._files_total,
            "batches_done": self._batches_done,
            "batches_total": self._batches_total,
            "awaiting_decision": self._awaiting,
        }

    @workflow.query
    def configured_decisions(self) -> dict[str, str]:
        """The answers in force: the configuration's, or those of the transfer's own processingMCP.xml."""
        return dict(self._decisions)

    @workflow.run
    async def run(self, params: IngestParams) -> StoredAip | None:
        try:
            return await self._run(params)
        except BaseException as err:
            if is_cancelled_exception(err):
                # The cancelled activities have stopped (WAIT_CANCELLATION_COMPLETED); this one is started after
                # the cancellation request, so it is not cancelled itself.
                self._stage = "cancelled"
                await self._final("mark_ingest_cancelled", params)
                raise
            if not isinstance(err, ActivityError | _Failure):
                raise
            reason = _reason(err)
            await self._final("mark_ingest_failed", params, reason)
            raise ApplicationError(reason, non_retryable=True) from err

    async def _final(self, name: str, params: IngestParams, *args: object) -> None:
        """Record how the ingest ended, shielded: a cancellation arriving meanwhile (the request signal comes just
        before it) must not leave the ingest showing a status it no longer has."""
        task = asyncio.ensure_future(self._activity(name, params, *args, timeout=60, cancellable=False))
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                continue
        task.result()

    async def _run(self, params: IngestParams) -> StoredAip | None:
        self._decisions = dict(params.decisions)
        self._stage = "prepare"
        bundled: dict[str, str] | None = await self._activity("read_processing_mcp", params, timeout=120,
                                                               result_type=dict)
        if bundled is not None:
            # The transfer's own file replaces the configuration at every point Archivematica has.
            self._decisions.update(bundled)
        structure = await self._decide(params, "generate_transfer_structure") == "Yes"
        inventory: Inventory = await self._activity("prepare_sip", params, structure, timeout=3600, heartbeat=True,
                                                    result_type=Inventory)
        options = await self._file_options(params)
        self._stage = "files"
        inventory = await self._process_files(params, inventory, options)

        directory_uuids = await self._decide(params, "assign_uuids_to_directories") == "Yes"
        await self._activity("record_transfer_metadata", params, inventory, directory_uuids, timeout=3600,
                             heartbeat=True)
        sip = await self._decide(params, "create_sip")
        if sip == SEND_TO_BACKLOG:
            self._stage = "backlog"
            await self._activity("send_to_backlog", params, timeout=24 * 3600, heartbeat=True)
            self._stage = "backlogged"
            return None
        if sip != CREATE_SIP:
            await self._reject(params, "The transfer was rejected at SIP creation")
            return None
        # Patched: a workflow started before normalization existed goes on as it began.
        if workflow.patched("normalization"):
            await self._normalize(params, inventory)
        await self._decide(params, "reminder")
        self._stage = "bag"
        await self._activity("build_bag", params, inventory, timeout=6 * 3600, heartbeat=True)
        algorithm = await self._decide(params, "compression_algo")
        level = await self._decide(params, "compression_level")
        self._stage = "compress"
        packed: PackedAip = await self._activity("compress_aip", params, inventory, algorithm, level,
                                                 timeout=24 * 3600, heartbeat=True, result_type=PackedAip)
        if await self._decide(params, "store_aip") != "Store AIP":
            await self._reject(params, "The AIP was rejected at the store decision")
            return None
        self._stage = "store"
        stored: StoredAip = await self._activity("store_aip", params, inventory, packed, timeout=24 * 3600,
                                                 heartbeat=True, result_type=StoredAip)
        if self._dip:
            await self._store_dip(params, inventory)
        self._stage = "finish"
        await self._activity("finish_ingest", params, inventory, stored, timeout=3600, heartbeat=True)
        self._stage = "stored"
        return stored

    async def _normalize(self, params: IngestParams, inventory: Inventory) -> None:
        """Normalize (preservation, access, thumbnails) and transcribe by the registry's rules, batch by batch;
        then the archivist approves (the derivatives are recorded), redoes (with the rules as they are then) or
        rejects (nothing is kept). Transcription alone needs no approval, as in Archivematica."""
        mode = await self._decide(params, "normalize")
        preservation, access = mode in PRESERVATION_CHOICES, mode in ACCESS_CHOICES
        thumbnails = "No"
        if preservation or access:
            thumbnails = await self._decide(params, "normalize_thumbnail_mode")
        transcribe = await self._decide(params, "transcribe_file") == "Yes"
        if not (preservation or access or transcribe or thumbnails != "No"):
            return
        for attempt in range(1, MAX_NORMALIZATION_ATTEMPTS + 1):
            wanted = Wanted(preservation=preservation, access=access, thumbnails=thumbnails != "No",
                            default_thumbnails=thumbnails == "Yes", transcription=transcribe, attempt=attempt,
                            rules=mode != MANUALLY, service_files=mode == "Normalize service files for access")
            self._stage = "normalize"
            self._batches_done, self._batches_total = 0, len(inventory.batches)
            await self._run_batches(params, "normalize_batch", inventory.batches, wanted)
            decision = "Approve"
            if preservation or access:
                # A redo asks again: a configured answer holds for the first attempt only.
                decision = await self._decide(params, "normalize_transfer", again=attempt > 1)
            await self._activity("finish_normalization", params, inventory, attempt, decision, timeout=6 * 3600,
                                 heartbeat=True)
            if decision != "Redo":
                self._dip = access and decision == "Approve"
                return
        raise _Failure(f"normalization was redone {MAX_NORMALIZATION_ATTEMPTS} times; approve or reject it")

    async def _store_dip(self, params: IngestParams, inventory: Inventory) -> None:
        """Archivematica's DIP unit: upload (no access system is built, so not uploaded), then store or not."""
        await self._decide(params, "upload_dip")
        if await self._decide(params, "store_dip") != "Store DIP":
            return
        self._stage = "dip"
        await self._activity("store_dip", params, inventory, dict(self._decisions), timeout=24 * 3600,
                             heartbeat=True)

    async def _reject(self, params: IngestParams, reason: str) -> None:
        self._stage = "rejected"
        await self._activity("reject_ingest", params, reason, timeout=60)

    async def _file_options(self, params: IngestParams) -> FileOptions:
        scan = await self._decide(params, "virus_scanning") == "Yes"
        quarantine = scan and await self._decide(params, "infected_files") == "Quarantine"
        identify = await self._decide(params, "select_format_id_tool_transfer") == "Yes"
        tool = await self._decide(params, "format_id_tool") if identify else "Siegfried"
        extract = await self._decide(params, "extract_packages") == "Yes"
        delete = extract and await self._decide(params, "delete_packages") == "Yes"
        return FileOptions(identify=identify, identify_tool=tool, scan=scan, quarantine=quarantine, extract=extract,
                           delete_packages=delete, extracted_at=workflow.now().replace(microsecond=0).isoformat())

    async def _process_files(self, params: IngestParams, inventory: Inventory, options: FileOptions) -> Inventory:
        """Every round of batches: the transfer's files, then what each round's packages held. Returns the
        inventory of all rounds."""
        batches, files, total = list(inventory.batches), inventory.file_count, inventory.total_bytes
        current = inventory.batches
        infected: list[str] = []
        round_ = 0
        while current:
            self._files_total = files
            self._batches_total = len(batches)
            results = await self._process_batches(params, current, options)
            infected.extend(path for result in results for path in result.infected)
            extracted: list[Extracted] = [e for result in results for e in result.extracted]
            if not extracted:
                break
            round_ += 1
            opened: Inventory
            if workflow.patched("extracted-read-from-batches"):
                # The packages are read from the batches' summaries: thousands of them in one round would not
                # fit in one payload.
                opened = await self._activity("open_extracted_batches", params, round_,
                                              [result.index for result in results if result.extracted],
                                              len(batches), options.extracted_at, timeout=3600, heartbeat=True,
                                              result_type=Inventory)
            else:
                opened = await self._activity("open_extracted", params, round_, extracted, len(batches),
                                              options.extracted_at, timeout=3600, heartbeat=True,
                                              result_type=Inventory)
            current = opened.batches
            batches.extend(current)
            files += opened.file_count
            total += opened.total_bytes
        if infected and not options.quarantine:
            listed = ", ".join(infected[:20]) + (f" and {len(infected) - 20} more" if len(infected) > 20 else "")
            raise _Failure(f"Virus scan: infected files found ({listed}); the transfer failed as configured")
        return Inventory(sip_dir=inventory.sip_dir, aip_name=inventory.aip_name, file_count=files,
                         total_bytes=total, batches=batches)

    async def _decide(self, params: IngestParams, point: str, again: bool = False) -> str:
        """The configuration's answer, or a person's: the package waits, visibly, until one is given. `again`
        asks a person a second time (the configuration's answer and the last one set aside)."""
        configured = ASK if again else self._decisions.get(point, ASK)
        if configured != ASK:
            return configured
        self._answers.pop(point, None)
        self._awaiting = point
        await self._activity("await_decision", params, point, timeout=120)
        await workflow.wait_condition(lambda: point in self._answers or self._cancel_requested)
        self._stop_if_cancelled()
        self._awaiting = None
        return self._answers[point]

    async def _process_batches(self, params: IngestParams, batches: list[Batch],
                               options: FileOptions) -> list[BatchResult]:
        results: list[BatchResult] = await self._run_batches(params, "process_batch", batches, options,
                                                             result_type=BatchResult)
        return sorted(results, key=lambda result: result.index)

    async def _run_batches(self, params: IngestParams, name: str, batches: list[Batch], options: object,
                           result_type: type | None = None) -> list[Any]:
        # A bounded number of batches in flight: enough to keep several workers busy without flooding them.
        pending: list[Batch] = list(batches)
        running: set[asyncio.Task[Any]] = set()
        results: list[Any] = []
        try:
            while pending or running:
                while pending and len(running) < params.max_concurrent_batches:
                    batch = pending.pop(0)
                    running.add(asyncio.ensure_future(
                        self._activity(name, params, batch, options, timeout=6 * 3600,
                                       heartbeat=True, result_type=result_type)
                    ))
                done, still_running = await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
                running = set(still_running)
                for task in done:
                    results.append(task.result())  # re-raises a failed batch
                    self._batches_done += 1
        except BaseException:
            # Cancelled, or a batch failed: the batches still in flight are asked to stop, and awaited, so that
            # none is still writing into the SIP when the ingest's status says it has ended. (Patched: a workflow
            # that failed a batch under the code before went straight on to mark itself failed.)
            if running and workflow.patched("stop-batches-in-flight"):
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
            raise
        return results

    def _stop_if_cancelled(self) -> None:
        if self._cancel_requested:
            raise asyncio.CancelledError("the ingest was cancelled")

    async def _activity(self, name: str, *args: object, timeout: int, heartbeat: bool = False,
                        result_type: type | None = None, cancellable: bool = True) -> Any:
        params = args[0]
        assert isinstance(params, IngestParams)
        if cancellable:
            self._stop_if_cancelled()
        result = await workflow.execute_activity(
            name,
            args=list(args),
            start_to_close_timeout=timedelta(seconds=timeout),
            heartbeat_timeout=timedelta(seconds=params.heartbeat_timeout_seconds) if heartbeat else None,
            retry_policy=RETRY,
            # A cancellation waits for the activity to stop (at its next heartbeat), not just for the request.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            result_type=result_type,
        )
        if cancellable:
            self._stop_if_cancelled()
        return result


class _Failure(Exception):
    """A verdict of the workflow itself (not of an activity) that ends the ingest as failed."""


def _reason(err: BaseException) -> str:
    """The innermost message: the activity's own error, not the wrapper's."""
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err) or type(err).__name__
