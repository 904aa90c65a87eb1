"""Processing configurations and decisions, on the wire.

A processing configuration answers the decision points of the chain in advance; a point left at `ask` stops the
package until someone answers it through the API. The names and choices follow Archivematica's processing
configuration fields (reference §3) for the points that exist in Amber; `infected_files` is Amber's own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, Field

ASK = "ask"

YesNo = Literal["ask", "Yes", "No"]
IdentifyToolChoice = Literal["ask", "Siegfried", "FIDO"]
InfectedChoice = Literal["ask", "Fail transfer", "Quarantine"]
CreateSipChoice = Literal["ask", "Create single SIP and continue processing", "Send to backlog", "Reject transfer"]
ReminderChoice = Literal["ask", "Continue"]
CompressionChoice = Literal["ask", "7z using bzip2", "7z using lzma", "7z without compression"]
LevelChoice = Literal["ask", "1", "3", "5", "7", "9"]
StoreChoice = Literal["ask", "Store AIP", "Reject AIP"]
NormalizeChoice = Literal[
    "ask", "Normalize for preservation and access", "Normalize for preservation", "Normalize for access",
    "Normalize service files for access", "Normalize manually", "Do not normalize",
]
ThumbnailChoice = Literal["ask", "Yes", "Yes, without default icons", "No"]
ApproveNormalizationChoice = Literal["ask", "Approve", "Redo", "Reject"]
# Uploading to AtoM, ArchivesSpace or CONTENTdm is not built: the DIP is stored (or not) in Amber's storage.
UploadDipChoice = Literal["ask", "Do not upload DIP"]
StoreDipChoice = Literal["ask", "Store DIP", "Reject DIP"]

CREATE_SIP: Final = "Create single SIP and continue processing"
SEND_TO_BACKLOG: Final = "Send to backlog"
DO_NOT_NORMALIZE: Final = "Do not normalize"


class ProcessingConfigFields(BaseModel):
    """The answers to each decision point, in the order the chain meets them; `ask` waits for a person.

    The defaults are the answers of the built-in `automated` configuration.
    """

    assign_uuids_to_directories: YesNo = Field(default="Yes", description="Assign UUIDs to directories?")
    virus_scanning: YesNo = Field(default="Yes", description="Scan for viruses?")
    infected_files: InfectedChoice = Field(
        default="Fail transfer",
        description="What to do when a file is infected: fail the transfer (nothing is stored), or move the "
        "file to quarantine, out of the AIP, with its removal recorded as a PREMIS event.",
    )
    generate_transfer_structure: YesNo = Field(default="No", description="Generate transfer structure report?")
    select_format_id_tool_transfer: YesNo = Field(default="Yes", description="Identify file formats?")
    format_id_tool: IdentifyToolChoice = Field(default="Siegfried", description="Which tool identifies formats?")
    extract_packages: YesNo = Field(default="Yes", description="Extract packages (zip, tar, gz, 7z, rar)?")
    delete_packages: YesNo = Field(
        default="Yes", description="Delete packages after extraction? (their removal is recorded as a PREMIS event)"
    )
    create_sip: CreateSipChoice = Field(default=CREATE_SIP, description="Create SIP(s)?")
    normalize: NormalizeChoice = Field(
        default=DO_NOT_NORMALIZE,
        description="Normalize? Preservation copies beside the originals in the AIP, access copies for the DIP, by "
        "the format policy registry's rules; or from objects/manualNormalization/ (manually); or not at all.",
    )
    normalize_thumbnail_mode: ThumbnailChoice = Field(
        default="No", description="Generate thumbnails? (without default icons: only where a rule makes one)"
    )
    normalize_transfer: ApproveNormalizationChoice = Field(
        default="Approve",
        description="Approve normalization? (see GET /ingests/{id}/normalization; redo runs the rules as they are "
        "now; reject keeps no derivative)",
    )
    transcribe_file: YesNo = Field(default="No", description="Transcribe files (OCR)?")
    reminder: ReminderChoice = Field(
        default="Continue", description="Reminder: add metadata if desired (through the metadata API), then continue."
    )
    compression_algo: CompressionChoice = Field(default="7z using bzip2", description="How to compress the AIP.")
    compression_level: LevelChoice = Field(default="5", description="Compression level.")
    store_aip: StoreChoice = Field(default="Store AIP", description="Store the AIP, or reject it?")
    upload_dip: UploadDipChoice = Field(
        default="Do not upload DIP",
        description="Upload the DIP (made when normalizing for access) to an access system? None is built yet.",
    )
    store_dip: StoreDipChoice = Field(
        default="Store DIP", description="Store the DIP (access copies, thumbnails, METS, OCR text) in the DIP "
        "location, linked to its AIP, or not?",
    )


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
