"""Normalization outcomes on the wire: what each format policy rule did to each file of an ingest.

Workers report every (file, purpose) of a normalization attempt as they go; an attempt is `Redo`ne as a new
attempt (the rules as they are then), and the approval decision on an attempt is recorded with it. The report
(`GET /ingests/{id}/normalization`) lists them: every file, the rule applied, the outcome, the output, the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

NormalizationPurpose = Literal["preservation", "access", "thumbnail", "transcription"]
# `no rule`: nothing applies to the file's format for this purpose (a preservation copy is then not made, as in
# Archivematica); `manual`: the archivist supplied the derivative in objects/manualNormalization/.
NormalizationResult = Literal["success", "failed", "no rule", "manual"]
AttemptDecision = Literal["Approve", "Redo", "Reject"]
MAX_OUTCOMES = 10_000


class NormalizationOutcomeRecord(BaseModel):
    path: str = Field(max_length=4096, description="The original, relative to the SIP's data/ (objects/…)")
    file_uuid: UUID = Field(description="The original's UUID")
    purpose: NormalizationPurpose
    rule_uuid: UUID | None = Field(default=None, description="The rule applied; none when no rule applies")
    command: str | None = Field(default=None, max_length=100)
    fallback: bool = Field(default=False, description="A default_access / default_thumbnail rule (no rule of "
                                                      "the format itself)")
    outcome: NormalizationResult
    output: str | None = Field(default=None, max_length=4096,
                               description="Where the derivative is: objects/… in the AIP, DIP/… or thumbnails/…")
    output_uuid: UUID | None = Field(default=None, description="The derivative's UUID (preservation copies, OCR)")
    output_puid: str | None = Field(default=None, max_length=64, description="The output as Siegfried named it")
    reason: str = Field(default="", max_length=2000)
    duration_seconds: float = 0.0


class NormalizationOutcomesBulk(BaseModel):
    attempt: int = Field(ge=1)
    outcomes: list[NormalizationOutcomeRecord] = Field(max_length=MAX_OUTCOMES)


class NormalizationOutcomeRead(NormalizationOutcomeRecord):
    attempt: int
    decision: AttemptDecision | None = Field(description="The approval given to this attempt; none while pending")
    recorded_at: datetime


class AttemptDecisionRecord(BaseModel):
    decision: AttemptDecision

