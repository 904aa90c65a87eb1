"""The decision points of the ingest chain: their questions and the choices a person may give."""

from __future__ import annotations

from typing import get_args

from clients.ingest.processing import ASK, ProcessingConfigFields


def choices(point: str) -> list[str]:
    annotation = ProcessingConfigFields.model_fields[point].annotation
    return [choice for choice in get_args(annotation) if choice != ASK]


def question(point: str) -> str:
    return ProcessingConfigFields.model_fields[point].description or point


POINTS = tuple(ProcessingConfigFields.model_fields)

BUILTIN_CONFIGS: dict[str, ProcessingConfigFields] = {
    # Archivematica's `automated`: every point answered, nothing waits.
    "automated": ProcessingConfigFields(),
    # Archivematica's `default`: a person answers the points that shape the AIP.
    "default": ProcessingConfigFields(
        assign_uuids_to_directories="No", generate_transfer_structure="Yes", select_format_id_tool_transfer="ask",
        extract_packages="ask", delete_packages="ask", create_sip="ask", normalize="ask",
        normalize_thumbnail_mode="Yes", normalize_transfer="ask", transcribe_file="ask", reminder="ask",
        store_aip="ask", store_dip="ask",
    ),
    # Every point answered, with normalization for preservation and access, thumbnails and OCR.
    "normalize": ProcessingConfigFields(
        normalize="Normalize for preservation and access", normalize_thumbnail_mode="Yes",
        normalize_transfer="Approve", transcribe_file="Yes",
    ),
}
