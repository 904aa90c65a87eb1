"""A worker's metrics: files, failures and time of each per-file micro-service, jobs, and every activity.

Label values are fixed names (micro-services, activity types, outcomes): never a package, a file or a path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from temporalio import activity
from temporalio.exceptions import CancelledError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from servicekit.metrics import Metrics

log = logging.getLogger(__name__)

# From a checksum of a small file to characterizing a large video.
FILE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
# From recording a job to compressing a multi-GB AIP.
LONG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0)


class WorkerMetrics:
    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.files = Counter("amber_microservice_files", "Files each per-file micro-service handled.",
                             ["microservice"], registry=registry)
        self.failures = Counter("amber_microservice_failures",
                                "Files a per-file micro-service failed (infected, invalid, not characterized).",
                                ["microservice"], registry=registry)
        self.duration = Histogram("amber_microservice_duration_seconds",
                                  "Time one per-file micro-service took on one file.", ["microservice"],
                                  buckets=FILE_BUCKETS, registry=registry)
        self.jobs = Counter("amber_jobs", "Jobs (the steps shown per ingest) finished, by micro-service and status.",
                            ["microservice", "status"], registry=registry)
        self.job_duration = Histogram("amber_job_duration_seconds", "Time of one job, by micro-service.",
                                      ["microservice"], buckets=LONG_BUCKETS, registry=registry)
        self.activities = Counter("amber_activities", "Activity attempts finished, by type and outcome.",
                                  ["activity", "outcome"], registry=registry)
        self.activity_duration = Histogram("amber_activity_duration_seconds", "Time of one activity attempt.",
                                           ["activity"], buckets=LONG_BUCKETS, registry=registry)
        self.step_duration = Histogram("amber_step_duration_seconds",
                                       "Time of one step of the work around the files (METS, manifests, 7-Zip, "
                                       "recording a batch), by step.", ["step"], buckets=LONG_BUCKETS,
                                       registry=registry)
        self.step_cpu = Counter("amber_step_cpu_seconds",
                                "CPU time of the worker process and the tools it waited for during each step (all "
                                "of the worker's threads: work running alongside counts too), by step.",
                                ["step"], registry=registry)

    def file_done(self, microservice: str, seconds: float, *, failed: bool = False) -> None:
        self.files.labels(microservice).inc()
        self.duration.labels(microservice).observe(seconds)
        if failed:
            self.failures.labels(microservice).inc()

    def job_done(self, microservice: str, status: str, seconds: float) -> None:
        self.jobs.labels(microservice, status).inc()
        self.job_duration.labels(microservice).observe(seconds)


@contextlib.contextmanager
def timed(metrics: WorkerMetrics | None, step: str, **figures: object) -> Iterator[dict[str, object]]:
    """Time one step of a package-wide activity: observed by step name, and logged with its duration and any
    figures (sizes, counts) the caller adds to the yielded dict, so a slow stage can be broken down."""
    started, cpu = time.perf_counter(), _cpu_seconds()
    noted: dict[str, object] = dict(figures)
    try:
        yield noted
    finally:
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        if metrics is not None:
            metrics.step_duration.labels(step).observe(seconds)
            metrics.step_cpu.labels(step).inc(cpu)
        log.info("step %s: %.3f s, cpu %.3f s%s", step, seconds, cpu,
                 "".join(f", {k}={v}" for k, v in noted.items()))


def _cpu_seconds() -> float:
    """CPU of this process (every thread) and of its children once they have been waited for (7-Zip)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Lap:
    """Times the steps of one file in turn: each `done` closes the step that began at the previous one."""

    def __init__(self, metrics: WorkerMetrics | None) -> None:
        self.metrics = metrics
        self.started = time.perf_counter()

    def restart(self) -> None:
        self.started = time.perf_counter()

    def done(self, microservice: str, *, failed: bool = False) -> None:
        now = time.perf_counter()
        if self.metrics is not None:
            self.metrics.file_done(microservice, now - self.started, failed=failed)
        self.started = now

    def took(self, microservice: str, seconds: float) -> None:
        """A step done for several files at once, before their laps: `seconds` is this file's share of it."""
        if self.metrics is not None:
            self.metrics.file_done(microservice, seconds)
        self.started = time.perf_counter()


class ActivityMetricsInterceptor(Interceptor):
    """Counts and times every activity attempt by its type: succeeded, failed or cancelled."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TimedActivity(next, self.metrics)


class _TimedActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: WorkerMetrics) -> None:
        super().__init__(next)
        self.metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await super().execute_activity(input)
            outcome = "succeeded"
            return result
        except BaseException as exc:
            if isinstance(exc, CancelledError | asyncio.CancelledError):
                outcome = "cancelled"
            raise
        finally:
            self.metrics.activities.labels(name, outcome).inc()
            self.metrics.activity_duration.labels(name).observe(time.perf_counter() - started)

