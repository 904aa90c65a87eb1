"""Telling the transfer service where each transfer's ingest stands, so a transfer follows its ingest to the end
(`stored`, `backlogged`, `failed`, …) instead of showing `ingesting` forever.

An outbox on the ingest row: `transfer_notified` is the status the transfer service last acknowledged, and a loop
sends every ingest whose status differs, oldest first, until it is acknowledged. The report is idempotent on the
transfer's side, so sending twice (an answer lost) is harmless; an outage only delays it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.ingest.schemas import IngestStatus
from clients.transfer import TransferClient
from clients.transfer.schemas import IngestStatusReport
from servicekit.background import wait_event
from servicekit.db import unit_of_work
from servicekit.http import ServiceError
from services.ingest.ingests.repository import IngestRepository
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)
BATCH = 50
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class _Pending:
    ingest_uuid: UUID
    transfer_uuid: UUID
    status: IngestStatus
    retry_of: UUID | None
    error: str | None


class TransferNotifier:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: IngestSettings) -> None:
        self.sessions = sessions
        self.settings = settings
        # Few retries per call: the loop itself retries, and must not stall behind one unreachable peer.
        self.client = TransferClient(settings.transfer_url, token=settings.resolved_internal_token(), retries=1,
                                     timeout=10)
        self.wake = asyncio.Event()

    async def aclose(self) -> None:
        await self.client.aclose()

    def poke(self) -> None:
        """An ingest changed status: send now rather than at the next round."""
        self.wake.set()

    async def sweep(self) -> bool:
        """Send what is pending; False when the transfer service could not be told (to keep the order, the round
        stops there)."""
        async with unit_of_work(self.sessions) as session:
            pending = [_Pending(i.uuid, i.transfer_uuid, i.status, i.retry_of, i.error)
                       for i in await IngestRepository(session).transfer_not_told(BATCH)]
        for item in pending:
            if not await self._send(item):
                return False
            async with unit_of_work(self.sessions) as session:
                ingest = await IngestRepository(session).get_for_update(item.ingest_uuid)
                if ingest is not None and ingest.status == item.status:
                    ingest.transfer_notified = item.status.value
        return True

    async def _send(self, item: _Pending) -> bool:
        if item.status == IngestStatus.queued and item.retry_of is None:
            return True  # the transfer says `ingesting` since it handed the transfer over
        report = IngestStatusReport(ingest_uuid=item.ingest_uuid, status=item.status, retry_of=item.retry_of,
                                    error=item.error)
        try:
            await self.client.report_ingest_status(item.transfer_uuid, report)
        except ServiceError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                # Not something sending again will fix (no such transfer: an ingest started without the transfer
                # service, or a transfer record deleted since).
                log.info("transfer %s not told of ingest %s (%s): %s", item.transfer_uuid, item.ingest_uuid,
                         item.status.value, exc)
                return True
            log.warning("transfer service not told of ingest %s yet: %s", item.ingest_uuid, exc)
            return False
        return True

    async def run_forever(self) -> None:
        delay = self.settings.notify_interval_seconds
        while True:
            self.wake.clear()
            try:
                ok = await self.sweep()
            except Exception:
                log.exception("transfer notification round failed")
                ok = False
            # Backs off while the transfer service is away; a status change still wakes it at once.
            delay = self.settings.notify_interval_seconds if ok else min(delay * 2, MAX_BACKOFF_SECONDS)
            await wait_event(self.wake, delay)
