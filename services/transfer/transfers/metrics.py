"""The transfer service's gauge, read from its database at scrape time: transfers by status."""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.transfer.schemas import TransferStatus
from servicekit.db import unit_of_work
from servicekit.metrics import Metrics
from services.transfer.transfers.repository import TransferRepository


def install_transfer_metrics(metrics: Metrics, sessions: async_sessionmaker[AsyncSession]) -> None:
    by_status = Gauge("amber_transfers", "Transfers by status.", ["status"], registry=metrics.registry,
                      multiprocess_mode="mostrecent")

    async def refresh() -> None:
        async with unit_of_work(sessions) as session:
            counts = await TransferRepository(session).count_by_status()
        for status in TransferStatus:  # every status, so one that empties shows 0 rather than its last count
            by_status.labels(status.value).set(counts.get(status, 0))

    metrics.on_scrape(refresh)
