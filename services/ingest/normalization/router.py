"""HTTP operations on the normalization report of an ingest."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from clients.ingest.normalization import (
    AttemptDecisionRecord,
    NormalizationOutcomeRead,
    NormalizationOutcomesBulk,
    NormalizationPurpose,
    NormalizationResult,
)
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.roles import Role, role_operation
from services.ingest.normalization import service

router = APIRouter(prefix="/ingests/{ingest_uuid}/normalization", tags=["normalization"])

Attempt = Annotated[int, Path(ge=1, le=1000)]


@router.get(
    "", response_model=Page[NormalizationOutcomeRead], summary="The normalization report of an ingest",
    openapi_extra=role_operation(Role.reader),
)
async def get_normalization_report(
    ingest_uuid: UUID, session: SessionDep, page: PageDep, caller: CallerDep,
    attempt: Annotated[int | None, Query(ge=1, le=1000, description="An attempt (a redo is a new one); "
                                                                   "the latest by default.")] = None,
    purpose: Annotated[NormalizationPurpose | None, Query(description="Only this purpose.")] = None,
    outcome: Annotated[NormalizationResult | None, Query(description="Only this outcome.")] = None,
) -> Page[NormalizationOutcomeRead]:
    """Every original file with each purpose it was normalized for: the rule applied (or that none applies), the
    outcome, the output, and the reason of a failure; with the approval given to the attempt."""
    return await service.report(session, ingest_uuid, page, attempt=attempt, purpose=purpose, outcome=outcome)


@router.post("", summary="Record normalization outcomes (workers)", openapi_extra=internal_operation())
async def record_normalization_outcomes(
    ingest_uuid: UUID, body: NormalizationOutcomesBulk, session: SessionDep, caller: CallerDep,
) -> dict[str, int]:
    """Idempotent: keyed by attempt, file and purpose, so a retried batch overwrites its own rows."""
    return {"recorded": await service.record_outcomes(session, ingest_uuid, body.attempt, body.outcomes)}


@router.put("/{attempt}/decision", summary="Record the approval of an attempt (workers)",
            openapi_extra=internal_operation())
async def record_normalization_decision(
    ingest_uuid: UUID, attempt: Attempt, body: AttemptDecisionRecord, session: SessionDep, caller: CallerDep,
) -> dict[str, int]:
    return {"updated": await service.decide_attempt(session, ingest_uuid, attempt, body.decision)}
