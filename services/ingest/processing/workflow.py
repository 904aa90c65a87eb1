"""The ingest workflow: thin and deterministic; every piece of I/O happens in an activity.

Order: prepare the SIP (move the transfer into bag layout, inventory it) → per batch of files: UUIDs, checksums,
format identification and their PREMIS events → bag (METS from the metadata service, manifests) → compress →
store → finish. A failure anywhere marks the ingest failed with the reason and leaves the files where they are.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from clients.ingest.processing import ASK
    from services.ingest.processing.params import (
        Batch,
        BatchResult,
        IngestParams,
        Inventory,
        PackedAip,
        StoredAip,
    )

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

    @workflow.signal
    def decide(self, point: str, choice: str) -> None:
        """A person's answer to a decision point (checked against its choices by the ingest service)."""
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

    @workflow.run
    async def run(self, params: IngestParams) -> StoredAip | None:
        try:
            return await self._run(params)
        except ActivityError as err:
            reason = _reason(err)
            await self._activity("mark_ingest_failed", params, reason, timeout=60)
            raise ApplicationError(reason, non_retryable=True) from err

    async def _run(self, params: IngestParams) -> StoredAip | None:
        self._stage = "prepare"
        inventory: Inventory = await self._activity("prepare_sip", params, timeout=3600, heartbeat=True,
                                                    result_type=Inventory)
        self._files_total = inventory.file_count
        self._batches_total = len(inventory.batches)

        identify = await self._decide(params, "select_format_id_tool_transfer") == "Yes"
        self._stage = "files"
        await self._process_batches(params, inventory, identify)

        await self._activity("record_transfer_metadata", params, inventory, timeout=3600, heartbeat=True)
        self._stage = "bag"
        await self._activity("build_bag", params, inventory, timeout=6 * 3600, heartbeat=True)
        algorithm = await self._decide(params, "compression_algo")
        level = await self._decide(params, "compression_level")
        self._stage = "compress"
        packed: PackedAip = await self._activity("compress_aip", params, inventory, algorithm, level,
                                                 timeout=24 * 3600, heartbeat=True, result_type=PackedAip)
        if await self._decide(params, "store_aip") != "Store AIP":
            self._stage = "rejected"
            await self._activity("reject_ingest", params, "The AIP was rejected at the store decision", timeout=60)
            return None
        self._stage = "store"
        stored: StoredAip = await self._activity("store_aip", params, inventory, packed, timeout=24 * 3600,
                                                 heartbeat=True, result_type=StoredAip)
        self._stage = "finish"
        await self._activity("finish_ingest", params, inventory, stored, timeout=3600, heartbeat=True)
        self._stage = "stored"
        return stored

    async def _decide(self, params: IngestParams, point: str) -> str:
        """The configuration's answer, or a person's: the package waits, visibly, until one is given."""
        configured = params.decisions.get(point, ASK)
        if configured != ASK:
            return configured
        self._awaiting = point
        await self._activity("await_decision", params, point, timeout=120)
        await workflow.wait_condition(lambda: point in self._answers)
        self._awaiting = None
        return self._answers[point]

    async def _process_batches(self, params: IngestParams, inventory: Inventory, identify: bool) -> None:
        # A bounded number of batches in flight: enough to keep several workers busy without flooding them.
        pending: list[Batch] = list(inventory.batches)
        running: set[asyncio.Task[BatchResult]] = set()
        while pending or running:
            while pending and len(running) < params.max_concurrent_batches:
                batch = pending.pop(0)
                running.add(asyncio.ensure_future(
                    self._activity("process_batch", params, inventory, batch, identify, timeout=6 * 3600,
                                   heartbeat=True,
                                   result_type=BatchResult)
                ))
            done, still_running = await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
            running = set(still_running)
            for task in done:
                task.result()  # re-raises a failed batch
                self._batches_done += 1

    async def _activity(self, name: str, *args: object, timeout: int, heartbeat: bool = False,
                        result_type: type | None = None) -> Any:
        params = args[0]
        assert isinstance(params, IngestParams)
        return await workflow.execute_activity(
            name,
            args=list(args),
            start_to_close_timeout=timedelta(seconds=timeout),
            heartbeat_timeout=timedelta(seconds=params.heartbeat_timeout_seconds) if heartbeat else None,
            retry_policy=RETRY,
            result_type=result_type,
        )


def _reason(err: BaseException) -> str:
    """The innermost message: the activity's own error, not the wrapper's."""
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err) or type(err).__name__
