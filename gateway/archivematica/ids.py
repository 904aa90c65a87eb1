"""How Archivematica's identifiers and encodings map to Amber's, stably across restarts.

- transfer UUID = Amber's transfer uuid; SIP UUID = AIP UUID = Amber's ingest uuid (the ingest names its AIP
  after itself); DIP UUID = the stored DIP's package uuid.
- location and space UUIDs are Amber's own.
- the one pipeline is the whole stack: its UUID is the setting `archivematica_pipeline_uuid`, or else derived
  from the data directory, so it is the same after every restart.
- job UUIDs and link UUIDs are derived from the ingest and the job's key.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid

from gateway.settings import GatewaySettings
from servicekit.ids import derived_id

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Not a real folder: Amber has no shared directory; clients only read the basename and the UUID at its end.
SHARED_DIRECTORY = "/var/archivematica/sharedDirectory"


def pipeline_uuid(settings: GatewaySettings) -> uuid.UUID:
    if settings.archivematica_pipeline_uuid is not None:
        return settings.archivematica_pipeline_uuid
    return derived_id("archivematica pipeline", settings.data_dir.expanduser().resolve())


def job_uuid(ingest_uuid: uuid.UUID, key: str) -> uuid.UUID:
    return derived_id("archivematica job", ingest_uuid, key)


def link_uuid(key: str) -> uuid.UUID:
    return derived_id("archivematica link", key)


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def b64decode_lenient(value: str) -> str | None:
    """Base64 as clients send it: Ruby's encoder inserts newlines, some drop the padding."""
    compact = "".join(value.split())
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def b64encode(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def split_location_path(decoded: str) -> tuple[uuid.UUID | None, str]:
    """`<location uuid>:<path>` or a bare path (which then belongs to the default transfer source)."""
    head, sep, rest = decoded.partition(":")
    location = parse_uuid(head) if sep else None
    return (location, rest) if location is not None else (None, decoded)


def unit_directory(name: str, unit: uuid.UUID) -> str:
    """Archivematica's folder name of a unit, `<name>-<uuid>`: what `approve` takes back and `path` ends with."""
    return f"{name}-{unit}"


def uuid_at_end(directory: str) -> uuid.UUID | None:
    """The unit UUID ending a `<name>-<uuid>` folder name, if it has one."""
    trimmed = directory.rstrip("/").rsplit("/", 1)[-1]
    match = UUID_RE.search(trimmed[-36:]) if len(trimmed) >= 36 else None
    return parse_uuid(match.group(0)) if match else None
