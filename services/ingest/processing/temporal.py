"""Connecting to Temporal and starting ingest workflows."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.ingest.processing.params import IngestParams
from services.ingest.processing.workflow import IngestWorkflow
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)


async def connect(settings: IngestSettings, *, attempts: int = 30) -> Client:
    """Connect, waiting for a Temporal server that is still starting."""
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
        except Exception as exc:  # the SDK raises plain RuntimeError on connection failure
            if attempt == attempts:
                raise
            log.warning("Temporal at %s not reachable (%s); retrying", settings.temporal_address, exc)
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


def workflow_id(ingest_uuid: str) -> str:
    return f"ingest-{ingest_uuid}"


async def start_ingest_workflow(client: Client, settings: IngestSettings, params: IngestParams) -> None:
    """Start the workflow once; starting it again for the same ingest is a no-op."""
    try:
        await client.start_workflow(
            IngestWorkflow.run,
            params,
            id=workflow_id(params.ingest_uuid),
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        log.info("workflow for ingest %s already started", params.ingest_uuid)


async def cancel_ingest_workflow(client: Client, workflow: str) -> bool:
    """Ask a running ingest workflow to stop; False when there is none running (its start was lost)."""
    handle = client.get_workflow_handle(workflow)
    try:
        described = await handle.describe()
        if described.status != WorkflowExecutionStatus.RUNNING:
            return False
        # The signal first: it stops the workflow even where the cancellation finds no activity to interrupt.
        await handle.signal(IngestWorkflow.request_cancel)
        await handle.cancel()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
