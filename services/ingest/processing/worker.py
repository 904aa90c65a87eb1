"""`amber worker`: runs ingest workflows and activities; start as many as the load needs, anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from temporalio.worker import Worker

from servicekit.garbage_collection import settle_after_startup
from servicekit.logs import configure_logging
from servicekit.metrics import Metrics
from servicekit.metrics_server import start_metrics_server
from servicekit.tracing import configure_tracing
from services.ingest.processing.activities import IngestActivities
from services.ingest.processing.metrics import ActivityMetricsInterceptor, WorkerMetrics
from services.ingest.processing.temporal import connect
from services.ingest.processing.tools import WorkerTools
from services.ingest.processing.workflow import IngestWorkflow
from services.ingest.settings import IngestSettings
from services.ingest.tool_usage import ToolUsage

log = logging.getLogger(__name__)


async def run_worker(settings: IngestSettings, stop: asyncio.Event | None = None) -> None:
    client = await connect(settings)
    metrics = Metrics()
    worker_metrics = WorkerMetrics(metrics) if settings.metrics_enabled else None
    # Whatever fails after the tools have started still ends them: a caller that goes on living (a test, a
    # supervisor retrying) would otherwise keep their processes.
    async with contextlib.AsyncExitStack() as stack:
        # Started on this (the caller's) thread, so clamd dies with the worker however the worker ends.
        tools = WorkerTools.start(settings, ToolUsage(metrics.registry if worker_metrics else None))
        stack.callback(tools.close)
        server = start_metrics_server(metrics, settings.worker_metrics_host, settings.worker_metrics_port,
                                      settings.resolved_metrics_token()) if worker_metrics else None
        if server is not None:
            stack.callback(server.close)
        activities = IngestActivities(settings, tools, worker_metrics)
        stack.push_async_callback(activities.aclose)
        stop = stop or asyncio.Event()
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[IngestWorkflow],
            activities=activities.all(),
            max_concurrent_activities=settings.worker_max_activities,
            graceful_shutdown_timeout=timedelta(seconds=10),
            interceptors=[ActivityMetricsInterceptor(worker_metrics)] if worker_metrics else [],
        )
        log.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
        async with worker:
            await stop.wait()


def main(settings: IngestSettings | None = None) -> None:
    settings = settings or IngestSettings()
    configure_logging("worker", settings.log_level)
    configure_tracing("worker", settings.otlp_endpoint)
    settings.processing_dir.mkdir(parents=True, exist_ok=True)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    # Here rather than in run_worker, which tests run inside their own process: what the imports left is most of
    # what the collector would walk again and again.
    settle_after_startup()
    asyncio.run(serve())
