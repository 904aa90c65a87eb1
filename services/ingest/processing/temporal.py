"""Connecting to Temporal and starting ingest workflows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from temporalio.client import (
    Client,
    Interceptor,
    RPCTimeoutOrCancelledError,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from servicekit.tracing import tracer, tracing_enabled
from services.ingest.processing.params import IngestParams
from services.ingest.processing.workflow import IngestWorkflow
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)


async def connect(settings: IngestSettings, *, attempts: int = 30) -> Client:
    """Connect, waiting for a Temporal server that is still starting."""
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                        interceptors=tracing_interceptors())
        except Exception as exc:  # the SDK raises plain RuntimeError on connection failure
            if attempt == attempts:
                raise
            log.warning("Temporal at %s not reachable (%s); retrying", settings.temporal_address, exc)
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


def tracing_interceptors() -> list[Interceptor]:
    """Temporal's OpenTelemetry interceptor when tracing is on: the workflow and each activity join the trace of
    the request that started the workflow (workers built on the client inherit it)."""
    if not tracing_enabled():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(tracer())]


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


class AnswerRefused(Exception):
    """The workflow did not take the answer (it waits for another point, or has finished)."""


class ProcessingUnreachable(Exception):
    """Temporal (or every worker) could not be reached in time: the answer may be given again later."""


async def deliver_answer(temporal: Callable[[], Awaitable[Client]], workflow: str, point: str, choice: str,
                         timeout: float) -> None:
    """Hand a decision answer to the ingest's workflow and return once the workflow has accepted it.

    Raises AnswerRefused when the workflow's validator refused it, ProcessingUnreachable when the outcome is
    unknown because Temporal or the workflow's workers did not answer within `timeout` seconds.
    """
    try:
        async with asyncio.timeout(timeout):
            client = await temporal()
            handle = client.get_workflow_handle(workflow)
            await handle.execute_update(IngestWorkflow.answer_decision, args=[point, choice])
    except WorkflowUpdateFailedError as exc:
        raise AnswerRefused(str(exc.cause)) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise AnswerRefused("the ingest's workflow is no longer running") from exc
        raise ProcessingUnreachable(f"Temporal refused the call: {exc.message}") from exc
    except (TimeoutError, RPCTimeoutOrCancelledError) as exc:
        raise ProcessingUnreachable(f"no answer from Temporal or a worker within {timeout:g} s") from exc
    except RuntimeError as exc:  # the SDK's connection failures
        raise ProcessingUnreachable(f"Temporal is not reachable: {exc}") from exc


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
