"""Processing configurations and decisions, on the wire.

A processing configuration answers the decision points of the chain in advance; a point left at `ask` stops the
package until someone answers it through the API. The names follow Archivematica's processing configuration
fields (reference §3) for the points that exist in Amber today.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ASK = "ask"

IdentifyChoice = Literal["ask", "Yes", "No"]
CompressionChoice = Literal["ask", "7z using bzip2", "7z using lzma", "7z without compression"]
LevelChoice = Literal["ask", "1", "3", "5", "7", "9"]
StoreChoice = Literal["ask", "Store AIP", "Reject AIP"]


class ProcessingConfigFields(BaseModel):
    """The answers to each decision point; `ask` waits for a person."""

    select_format_id_tool_transfer: IdentifyChoice = Field(
        default="Yes", description="Identify file formats (Siegfried)?"
    )
    compression_algo: CompressionChoice = Field(default="7z using bzip2", description="How to compress the AIP.")
    compression_level: LevelChoice = Field(default="5", description="Compression level.")
    store_aip: StoreChoice = Field(default="Store AIP", description="Store the AIP, or reject it?")


class ProcessingConfigWrite(BaseModel):
    fields: ProcessingConfigFields = Field(description="Points left out take the answers of `automated`.")


class ProcessingConfigRead(BaseModel):
    name: str
    builtin: bool = Field(description="Shipped with Amber; it can be edited but not deleted.")
    fields: ProcessingConfigFields
    created_at: datetime
    updated_at: datetime


class DecisionRead(BaseModel):
    """A decision an ingest is waiting for."""

    point: str = Field(description="The decision point, named as its processing configuration field.")
    question: str
    choices: list[str]


class DecisionAnswer(BaseModel):
    point: str
    choice: str
