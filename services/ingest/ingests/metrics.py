"""The ingest service's gauges, read from its database at scrape time: ingests by status, admission's queue."""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.ingest.schemas import IngestStatus
from servicekit.db import unit_of_work
from servicekit.metrics import Metrics
from services.ingest.ingests.repository import IngestRepository


def install_ingest_metrics(metrics: Metrics, sessions: async_sessionmaker[AsyncSession]) -> None:
    by_status = Gauge("amber_ingests", "Ingests by status.", ["status"], registry=metrics.registry,
                      multiprocess_mode="mostrecent")
    waiting = Gauge("amber_admission_queue_length", "Ingests waiting for a processing slot.",
                    registry=metrics.registry, multiprocess_mode="mostrecent")

    async def refresh() -> None:
        async with unit_of_work(sessions) as session:
            repo = IngestRepository(session)
            counts = await repo.count_by_status()
            queued = await repo.count_waiting()
        for status in IngestStatus:  # every status, so one that empties shows 0 rather than its last count
            by_status.labels(status.value).set(counts.get(status, 0))
        waiting.set(queued)

    metrics.on_scrape(refresh)
