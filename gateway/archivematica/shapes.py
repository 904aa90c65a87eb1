"""Amber's records in Archivematica's shapes (Storage Service resources and their list envelope)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from clients.storage.schemas import LocationPurpose, LocationRead, PackageRead, PackageStatus, PackageType

PURPOSE_CODES: dict[LocationPurpose, str] = {
    LocationPurpose.transfer_source: "TS",
    LocationPurpose.aip_storage: "AS",
    LocationPurpose.dip_storage: "DS",
    LocationPurpose.backlog: "BL",
    LocationPurpose.currently_processing: "CP",
    LocationPurpose.replicator: "RP",
    LocationPurpose.aip_recovery: "AR",
}
PURPOSES_BY_CODE = {code: purpose for purpose, code in PURPOSE_CODES.items()}
PACKAGE_TYPES: dict[PackageType, str] = {PackageType.aip: "AIP", PackageType.dip: "DIP",
                                         PackageType.transfer: "transfer"}
PACKAGE_TYPES_BY_NAME = {name: kind for kind, name in PACKAGE_TYPES.items()}
# A verified package is still UPLOADED to Archivematica's clients (they filter on it); Archivematica's own fixity
# checks do not change a package's status either.
PACKAGE_STATUSES: dict[PackageStatus, str] = {
    PackageStatus.pending: "PENDING",
    PackageStatus.stored: "UPLOADED",
    PackageStatus.verified: "UPLOADED",
    PackageStatus.failed: "FAIL",
    PackageStatus.deletion_requested: "DEL_REQ",
    PackageStatus.deleted: "DELETED",
}
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def naive(value: datetime | None) -> str | None:
    """Tastypie's datetimes: ISO 8601 without a zone (UTC here)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat()


def uri(resource: str, ident: UUID | str) -> str:
    return f"/api/v2/{resource}/{ident}/"


def pipeline_object(pipeline: UUID, host: str) -> dict[str, Any]:
    return {"description": f"Amber at {host}", "remote_name": host, "resource_uri": uri("pipeline", pipeline),
            "uuid": str(pipeline)}


def space_object(space: UUID, locations: Sequence[LocationRead]) -> dict[str, Any]:
    return {
        "access_protocol": "FS", "last_verified": None, "path": "/", "size": None, "staging_path": "",
        "used": str(sum(loc.used for loc in locations if loc.space_uuid == space)), "uuid": str(space),
        "verified": False, "resource_uri": uri("space", space),
    }


def location_object(location: LocationRead, pipeline: UUID) -> dict[str, Any]:
    # The space's path is "/", so the location's relative path is its full path without the leading slash.
    return {
        "uuid": str(location.uuid), "description": location.description, "enabled": True,
        "path": location.path, "relative_path": location.path.lstrip("/"),
        "pipeline": [uri("pipeline", pipeline)], "purpose": PURPOSE_CODES[location.purpose],
        "quota": None if location.quota is None else str(location.quota), "used": str(location.used),
        "space": uri("space", location.space_uuid), "default": location.is_default,
        "resource_uri": uri("location", location.uuid),
    }


def package_object(package: PackageRead, locations: Mapping[UUID, LocationRead], pipeline: UUID) -> dict[str, Any]:
    location = locations.get(package.location_uuid)
    base = location.path.rstrip("/") if location is not None else ""
    return {
        "uuid": str(package.uuid), "package_type": PACKAGE_TYPES[package.package_type],
        "status": PACKAGE_STATUSES.get(package.status, "FAIL"), "size": package.size or 0,
        "current_path": package.current_path, "current_full_path": f"{base}/{package.current_path}",
        "current_location": uri("location", package.location_uuid), "origin_pipeline": uri("pipeline", pipeline),
        "related_packages": [uri("file", package.related_package_uuid)] if package.related_package_uuid else [],
        "replicas": [], "replicated_package": uri("file", package.replica_of) if package.replica_of else None,
        "misc_attributes": {}, "encrypted": False, "stored_date": naive(package.stored_at or package.created_at),
        "resource_uri": uri("file", package.uuid),
    }


def page_of(objects: Sequence[dict[str, Any]], path: str, query: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Tastypie's envelope: `next`/`previous` are paths repeating every query parameter, auth included (amclient
    follows `next` with no credentials of its own)."""
    params = dict(query)
    limit = _int(params.get("limit"), DEFAULT_LIMIT)
    limit = MAX_LIMIT if limit == 0 else min(max(limit, 1), MAX_LIMIT)
    offset = max(_int(params.get("offset"), 0), 0)
    kept = [(k, v) for k, v in query if k not in ("limit", "offset")]

    def link(at: int) -> str:
        return f"{path}?{urlencode([*kept, ('limit', str(limit)), ('offset', str(at))])}"

    total = len(objects)
    return {
        "meta": {
            "limit": limit, "offset": offset, "total_count": total,
            "previous": link(max(offset - limit, 0)) if offset > 0 else None,
            "next": link(offset + limit) if offset + limit < total else None,
        },
        "objects": list(objects[offset:offset + limit]),
    }


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def matches(obj: Mapping[str, Any], filters: Mapping[str, str]) -> bool:
    """Tastypie's filters on a serialized object: `field`, `field__in`, `field__startswith`, and a related
    resource's `__uuid` (a URI field matched on the UUID it ends with)."""
    for name, wanted in filters.items():
        field, _, lookup = name.partition("__")
        if field not in obj:
            continue  # unknown filters are ignored, as amclient's literal `{}` query must be
        value = obj[field]
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        if isinstance(value, bool):  # Django takes true/false and 1/0 for a boolean field
            value, wanted = str(value).lower(), {"1": "true", "0": "false"}.get(wanted.lower(), wanted.lower())
        text = "" if value is None else str(value)
        if lookup == "in":
            if text not in wanted.split(","):
                return False
        elif lookup == "startswith":
            if not text.startswith(wanted):
                return False
        elif lookup in ("uuid", ""):
            if text != wanted and text.rstrip("/").rsplit("/", 1)[-1] != wanted:
                return False
        elif lookup == "purpose" and field == "current_location":
            continue  # resolved by the caller, which knows the locations
    return True
