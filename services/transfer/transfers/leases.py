"""Leases on transfers being received: which process works on each, so restart recovery touches only the
transfers whose process is provably gone.

A transfer is `received` while one process places it, hands it to ingest or rejects it. That process, known by an
owner id made when it starts, takes a lease when the transfer enters `received` and renews it every quarter of
`lease_seconds` while it runs. Recovery (at start-up and every half lease, in every process) takes only transfers
whose lease ran out, so several processes on one database never recover each other's live work, and a process
restarting only recovers what it left behind once its old leases expire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.db import unit_of_work, utcnow
from servicekit.ids import new_id
from services.transfer.transfers.models import Transfer
from services.transfer.transfers.repository import TransferRepository

log = logging.getLogger(__name__)


class Leases:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], lease_seconds: float) -> None:
        self.sessions = sessions
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = new_id().hex

    def deadline(self) -> datetime:
        return utcnow() + self.lease

    def take(self, transfer: Transfer) -> None:
        """Make `transfer` (about to be, or being, `received`) this process's until the lease runs out."""
        transfer.owner = self.owner
        transfer.lease_expires_at = self.deadline()

    async def renew(self) -> int:
        async with unit_of_work(self.sessions) as session:
            return await TransferRepository(session).renew_leases(self.owner, self.deadline())

    async def run_forever(self, recover: Callable[[], Awaitable[object]]) -> None:
        """Recover abandoned transfers now and every half lease; renew this process's leases every quarter."""
        beat = self.lease.total_seconds() / 4
        beats = 0
        while True:
            try:
                if beats % 2 == 0:
                    await recover()
            except Exception:
                log.exception("recovering abandoned transfers failed")
            await asyncio.sleep(beat)
            beats += 1
            try:
                await self.renew()
            except Exception:
                log.exception("renewing the leases of transfer-service process %s failed", self.owner)
