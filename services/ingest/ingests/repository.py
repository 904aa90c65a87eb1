"""Every query on ingests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col

from clients.ingest.schemas import IngestStatus
from services.ingest.ingests.models import Ingest
from services.ingest.jobs.models import Job

FINISHED = (IngestStatus.stored, IngestStatus.failed, IngestStatus.rejected, IngestStatus.backlogged,
            IngestStatus.cancelled)
# A package waiting for a person gives up its slot, as in Archivematica, so others are not held up.
NOT_HOLDING_A_SLOT = (*FINISHED, IngestStatus.awaiting_decision)

# Jobs whose files_done count toward an ingest's progress are the per-batch jobs.
BATCH_JOB_PREFIX = "batch-"


class IngestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ingest_uuid: UUID) -> Ingest | None:
        return await self.session.get(Ingest, ingest_uuid)

    async def get_for_update(self, ingest_uuid: UUID) -> Ingest | None:
        return await self.session.get(Ingest, ingest_uuid, with_for_update=True)

    async def mark_answered(self, ingest: Ingest, now: datetime) -> None:
        """The ingest resumes processing, unless the row changed since `ingest` was read (the workflow, already
        past the answer, reported something newer, which must not be overwritten)."""
        statement = (
            update(Ingest)
            .where(col(Ingest.uuid) == ingest.uuid, col(Ingest.updated_at) == ingest.updated_at,
                   col(Ingest.status) == IngestStatus.awaiting_decision)
            .values(status=IngestStatus.processing, decision=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(statement)
        self.session.expire(ingest)

    async def get_by_transfer(self, transfer_uuid: UUID) -> Ingest | None:
        """The transfer's latest ingest (a retry is a newer one); it owns the kept transfer folder."""
        result = await self.session.execute(
            select(Ingest).where(col(Ingest.transfer_uuid) == transfer_uuid)
            .order_by(col(Ingest.created_at).desc(), col(Ingest.uuid)).limit(1)
        )
        return result.scalar_one_or_none()

    async def get_retry(self, ingest_uuid: UUID) -> Ingest | None:
        result = await self.session.execute(select(Ingest).where(col(Ingest.retry_of) == ingest_uuid))
        return result.scalar_one_or_none()

    async def expired(self, statuses: Iterable[IngestStatus], finished_before: datetime, limit: int) -> list[Ingest]:
        """Finished ingests of `statuses` older than `finished_before` whose leftovers were never cleaned up."""
        finished = func.coalesce(col(Ingest.finished_at), col(Ingest.updated_at))
        statement = (
            select(Ingest)
            .where(col(Ingest.status).in_(list(statuses)), col(Ingest.cleaned_at).is_(None),
                   finished < finished_before)
            .order_by(finished).limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())

    async def transfer_not_told(self, limit: int) -> list[Ingest]:
        """Ingests whose transfer has not yet been told their current status, oldest first (so a transfer hears
        of a retry only after it heard how the attempt before it ended)."""
        statement = (
            select(Ingest)
            .where(or_(col(Ingest.transfer_notified).is_(None), col(Ingest.transfer_notified) != col(Ingest.status)))
            .order_by(col(Ingest.created_at), col(Ingest.uuid)).limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())

    def add(self, ingest: Ingest) -> None:
        self.session.add(ingest)

    async def flush(self) -> None:
        await self.session.flush()

    async def write(self, ingest: Ingest, fields: Iterable[str]) -> None:
        """Write `fields` of `ingest` now, even those equal to what was read."""
        for name in fields:
            flag_modified(ingest, name)
        await self.session.flush()

    async def count_active(self) -> int:
        """Ingests holding a processing slot: admitted and not finished."""
        statement = select(func.count()).select_from(Ingest).where(
            col(Ingest.admitted_at).is_not(None), col(Ingest.status).not_in(NOT_HOLDING_A_SLOT)
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def count_by_status(self) -> dict[IngestStatus, int]:
        statement = select(col(Ingest.status), func.count()).group_by(col(Ingest.status))
        return {IngestStatus(status): int(count) for status, count in (await self.session.execute(statement)).all()}

    async def count_waiting(self) -> int:
        """Ingests in line for a processing slot (admission control's queue)."""
        statement = select(func.count()).select_from(Ingest).where(
            col(Ingest.admitted_at).is_(None), col(Ingest.status) == IngestStatus.queued
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def next_waiting(self, limit: int) -> list[Ingest]:
        """The oldest ingests waiting for a slot, locked so two admitters never admit the same one."""
        statement = (
            select(Ingest)
            .where(col(Ingest.admitted_at).is_(None), col(Ingest.status) == IngestStatus.queued)
            .order_by(col(Ingest.created_at), col(Ingest.uuid))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(statement)).scalars())

    async def admitted_but_queued(self, admitted_before: datetime) -> list[Ingest]:
        """Admitted ingests whose workflow has shown no sign of life (a start may have been lost)."""
        statement = select(Ingest).where(
            col(Ingest.admitted_at) < admitted_before, col(Ingest.status) == IngestStatus.queued
        )
        return list((await self.session.execute(statement)).scalars())

    async def queue_positions(self, ingests: list[Ingest]) -> dict[UUID, int]:
        waiting = [i for i in ingests if i.admitted_at is None and i.status == IngestStatus.queued]
        positions: dict[UUID, int] = {}
        for ingest in waiting:
            ahead = select(func.count()).select_from(Ingest).where(
                col(Ingest.admitted_at).is_(None), col(Ingest.status) == IngestStatus.queued,
                col(Ingest.created_at) < ingest.created_at,
            )
            positions[ingest.uuid] = int((await self.session.execute(ahead)).scalar_one()) + 1
        return positions

    async def files_done(self, ingest_uuids: list[UUID]) -> dict[UUID, int]:
        if not ingest_uuids:
            return {}
        statement = (
            select(col(Job.ingest_uuid), func.coalesce(func.sum(col(Job.files_done)), 0))
            .where(col(Job.ingest_uuid).in_(ingest_uuids), col(Job.key).startswith(BATCH_JOB_PREFIX))
            .group_by(col(Job.ingest_uuid))
        )
        rows = await self.session.execute(statement)
        return {row[0]: int(row[1] or 0) for row in rows}

    async def page(self, *, status: IngestStatus | None, limit: int, offset: int) -> tuple[list[Ingest], int]:
        query = select(Ingest)
        count = select(func.count()).select_from(Ingest)
        if status is not None:
            query = query.where(col(Ingest.status) == status)
            count = count.where(col(Ingest.status) == status)
        query = query.order_by(col(Ingest.created_at).desc(), col(Ingest.uuid)).limit(limit).offset(offset)
        items = list((await self.session.execute(query)).scalars())
        total = int((await self.session.execute(count)).scalar_one())
        return items, total
