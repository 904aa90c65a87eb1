"""Removing what a failed, rejected or cancelled ingest left in the processing location, on request or when the
retention period (`AMBER_INGEST_RETENTION_HOURS`) has passed.

What an ingest made: its SIP folder `sips/<ingest>/` (with the bag, the workflow's scratch files and any 7-Zip
part files) and its quarantine `quarantine/<ingest>/`; these always go. The transfer folder `transfers/<transfer>/`
it was built from is the transfer's material, kept so the ingest can be retried: it goes only when asked
(`transfer=true`) or when the retention period has passed, and never while a retry of it exists (the transfer's
latest ingest owns it). Nothing is removed from an ingest that is queued, running or waiting for a decision; the
row is claimed (`cleaned_by`, `transfer_removed`) in the same transaction that checks this, so a retry asked at the
same moment either comes first (and owns the transfer) or is refused. `cleaned_at` is set once the files are gone:
whoever sees it can count on that, and a clean-up cut short (the service killed) is done again by the next sweep.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.ingest.schemas import CLEANABLE_STATUSES, CleanUpRead, RemovedPath
from servicekit.db import unit_of_work, utcnow
from servicekit.problems import Conflict, NotFound
from services.ingest.disk_usage import tree_size
from services.ingest.ingests.repository import IngestRepository
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)
RETENTION_USER = "retention"
SWEEP_LIMIT = 50


async def clean_up(sessions: async_sessionmaker[AsyncSession], settings: IngestSettings, ingest_uuid: UUID,
                   by: str, *, transfer: bool = False) -> CleanUpRead:
    """Remove the ingest's leftovers (and its kept transfer when `transfer`) and record it (when, by whom,
    bytes); a second call removes what is left, usually nothing."""
    async with unit_of_work(sessions) as session:
        repo = IngestRepository(session)
        ingest = await repo.get_for_update(ingest_uuid)
        if ingest is None:
            raise NotFound("Ingest", ingest_uuid)
        if ingest.status not in CLEANABLE_STATUSES:
            raise Conflict(f"Ingest {ingest_uuid} is {ingest.status.value}; only a failed, rejected or cancelled "
                           "ingest is cleaned up (a stored or backlogged one removed its own files)")
        latest = await repo.get_by_transfer(ingest.transfer_uuid)
        owns_transfer = latest is None or latest.uuid == ingest.uuid
        ingest.cleaned_by = by
        targets = [f"sips/{ingest.uuid}", f"quarantine/{ingest.uuid}"]
        kept = []
        if transfer and owns_transfer:
            ingest.transfer_removed = True
            targets.append(ingest.path)
        elif not ingest.transfer_removed:
            kept.append(ingest.path)
    removed = await asyncio.to_thread(remove_paths, settings.processing_dir, targets)
    total = sum(r.bytes for r in removed)
    async with unit_of_work(sessions) as session:
        ingest = await IngestRepository(session).get_for_update(ingest_uuid)
        assert ingest is not None and ingest.cleaned_by is not None
        ingest.cleaned_at = utcnow()
        ingest.cleaned_bytes = (ingest.cleaned_bytes or 0) + total
        cleaned_at, cleaned_by = ingest.cleaned_at, ingest.cleaned_by
    log.info("cleaned up ingest %s: %d bytes under %s", ingest_uuid, total, [r.path for r in removed])
    return CleanUpRead(ingest_uuid=ingest_uuid, removed=removed, bytes=total, kept=kept, cleaned_at=cleaned_at,
                       cleaned_by=cleaned_by)


def remove_paths(root: Path, relatives: list[str]) -> list[RemovedPath]:
    """Remove each existing path under `root`, counting the bytes of its files first."""
    removed = []
    for relative in relatives:
        path = root / relative
        if not path.resolve().is_relative_to(root.resolve()) or not path.exists():
            continue
        size = tree_size(path)
        # Another clean-up of the same ingest may be removing the same files: what is already gone is not an error.
        if path.is_dir():
            shutil.rmtree(path, onerror=_gone_is_fine)
        else:
            path.unlink(missing_ok=True)
        removed.append(RemovedPath(path=relative, bytes=size))
    return removed


def _gone_is_fine(function: object, path: str, excinfo: tuple[type[BaseException], BaseException, object]) -> None:
    if not isinstance(excinfo[1], FileNotFoundError):
        raise excinfo[1]


class Retention:
    """Every `retention_interval_seconds`, clean up failed, rejected and cancelled ingests that finished more than
    `retention_hours` ago (off when that is unset)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: IngestSettings) -> None:
        self.sessions = sessions
        self.settings = settings

    async def sweep(self) -> int:
        hours = self.settings.retention_hours
        if hours is None:
            return 0
        async with unit_of_work(self.sessions) as session:
            expired = await IngestRepository(session).expired(
                CLEANABLE_STATUSES, utcnow() - timedelta(hours=hours), SWEEP_LIMIT)
            uuids = [ingest.uuid for ingest in expired]
        for ingest_uuid in uuids:
            try:
                await clean_up(self.sessions, self.settings, ingest_uuid, RETENTION_USER, transfer=True)
            except Exception:
                log.exception("retention: cleaning up ingest %s failed", ingest_uuid)
        return len(uuids)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("retention sweep failed")
            await asyncio.sleep(self.settings.retention_interval_seconds)
