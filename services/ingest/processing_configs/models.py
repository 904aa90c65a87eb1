"""Named processing configurations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field

from servicekit.db import UTCDateTime
from services.ingest.ingests.models import IngestBase


class ProcessingConfig(IngestBase, table=True):
    __tablename__ = "processing_config"

    name: str = Field(primary_key=True, max_length=100)
    builtin: bool = False
    fields: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
