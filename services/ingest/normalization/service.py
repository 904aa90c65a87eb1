"""The normalization report: outcomes as workers report them, the approval given to each attempt."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from clients.ingest.normalization import (
    AttemptDecision,
    NormalizationOutcomeRead,
    NormalizationOutcomeRecord,
    NormalizationPurpose,
    NormalizationResult,
)
from servicekit.db import utcnow
from servicekit.pagination import Page, PageParams
from servicekit.problems import NotFound
from services.ingest.ingests.repository import IngestRepository
from services.ingest.normalization.repository import NormalizationRepository


async def _require_ingest(session: AsyncSession, ingest_uuid: UUID) -> None:
    if await IngestRepository(session).get(ingest_uuid) is None:
        raise NotFound("Ingest", ingest_uuid)


async def record_outcomes(session: AsyncSession, ingest_uuid: UUID, attempt: int,
                          outcomes: list[NormalizationOutcomeRecord]) -> int:
    await _require_ingest(session, ingest_uuid)
    now = utcnow()
    rows = [{**o.model_dump(), "ingest_uuid": ingest_uuid, "attempt": attempt, "recorded_at": now}
            for o in outcomes]
    await NormalizationRepository(session).upsert(rows)
    return len(rows)


async def decide_attempt(session: AsyncSession, ingest_uuid: UUID, attempt: int, decision: AttemptDecision) -> int:
    await _require_ingest(session, ingest_uuid)
    return await NormalizationRepository(session).decide(ingest_uuid, attempt, decision)


async def report(session: AsyncSession, ingest_uuid: UUID, page: PageParams, *, attempt: int | None,
                 purpose: NormalizationPurpose | None,
                 outcome: NormalizationResult | None) -> Page[NormalizationOutcomeRead]:
    """One attempt's outcomes (the latest by default), by path then purpose; empty if nothing was normalized."""
    await _require_ingest(session, ingest_uuid)
    repo = NormalizationRepository(session)
    chosen = attempt if attempt is not None else await repo.latest_attempt(ingest_uuid)
    if chosen is None:
        return Page[NormalizationOutcomeRead].of([], 0, page)
    rows, total = await repo.page(ingest_uuid, chosen, purpose=purpose, outcome=outcome, limit=page.limit,
                                  offset=page.offset)
    items = [NormalizationOutcomeRead.model_validate(row, from_attributes=True) for row in rows]
    return Page[NormalizationOutcomeRead].of(items, total, page)
