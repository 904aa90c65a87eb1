"""The storage service's domain events (`aip.*`, `dip.*`, `fixity.*`, `replication.*`, `deletion.*`, all `.v1`),
recorded in its outbox in the transaction that changes the package (`servicekit.outbox`). Replicas are not
packages of their own to the outside: their events name the AIP they copy."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from clients.storage.schemas import DeletionRequestRead, DeletionRequestStatus, FixityReport, PackageType
from servicekit.outbox import Outbox, outbox_table
from services.storage.db import metadata
from services.storage.packages.models import Package

OUTBOX = Outbox(outbox_table(metadata), "storage")

# The name a package type goes by in event names (a backlogged transfer is not the transfer service's transfer).
KINDS = {PackageType.aip: "aip", PackageType.dip: "dip", PackageType.transfer: "backlog"}
DELETION_EVENTS = {DeletionRequestStatus.pending: "deletion.requested.v1",
                   DeletionRequestStatus.approved: "deletion.approved.v1",
                   DeletionRequestStatus.rejected: "deletion.rejected.v1"}
# How many problem files a fixity event names; the PREMIS event and the API's report keep the rest.
MAX_NAMED_FILES = 100


def _package(package: Package) -> dict[str, Any]:
    return {"package_uuid": package.uuid, "package_type": package.package_type, "name": package.name,
            "location_uuid": package.location_uuid, "current_path": package.current_path, "size": package.size,
            "sha256": package.sha256}


async def package_stored(session: AsyncSession, package: Package) -> None:
    payload = {**_package(package), "related_package_uuid": package.related_package_uuid}
    await OUTBOX.record(session, f"{KINDS[package.package_type]}.stored.v1", package.uuid, payload,
                        related=package.related_package_uuid)


async def fixity_checked(session: AsyncSession, package: Package, report: FixityReport) -> None:
    subject = package.replica_of or package.uuid
    problems = [{"kind": kind, "path": problem.path}
                for kind, found in (("missing", report.missing), ("changed", report.changed),
                                    ("untracked", report.untracked)) for problem in found]
    payload: dict[str, Any] = {
        "package_uuid": subject, "checked_uuid": package.uuid, "replica": package.replica_of is not None,
        "location_uuid": package.location_uuid, "files_checked": report.files_checked,
    }
    if not report.success:
        payload.update(files=problems[:MAX_NAMED_FILES], files_total=len(problems), errors=report.errors[:20],
                       package_sha256_expected=report.package_sha256_expected,
                       package_sha256_actual=report.package_sha256_actual)
    await OUTBOX.record(session, "fixity.passed.v1" if report.success else "fixity.failed.v1", subject, payload)


async def replicated(session: AsyncSession, original: UUID, replica: UUID, location: UUID, error: str | None) -> None:
    payload: dict[str, Any] = {"package_uuid": original, "replica_uuid": replica, "location_uuid": location}
    if error is not None:
        payload["reason"] = error
    await OUTBOX.record(session, "replication.failed.v1" if error else "replication.done.v1", original, payload)


async def recovered(session: AsyncSession, package_uuid: UUID, replica_uuid: UUID | None, success: bool,
                    reason: str = "") -> None:
    """`aip.recovered.v1` once the restored AIP passes fixity; `aip.recovery.failed.v1` when it still fails, or
    when no replica could be used (no `replica_uuid`)."""
    if success:
        await OUTBOX.record(session, "aip.recovered.v1", package_uuid,
                            {"package_uuid": package_uuid, "replica_uuid": replica_uuid, "fixity_ok": True})
        return
    await OUTBOX.record(session, "aip.recovery.failed.v1", package_uuid,
                        {"package_uuid": package_uuid, "replica_uuid": replica_uuid, "reason": reason})


async def deletion(session: AsyncSession, request: DeletionRequestRead) -> None:
    """`deletion.requested.v1`, `deletion.approved.v1` or `deletion.rejected.v1`, by the request's status."""
    await OUTBOX.record(session, DELETION_EVENTS[request.status], request.package_uuid,
                        request.model_dump(mode="json"))


async def package_deleted(session: AsyncSession, package: Package, request_uuid: UUID, replicas: int) -> None:
    await OUTBOX.record(session, f"{KINDS[package.package_type]}.deleted.v1", package.uuid,
                        {**_package(package), "deletion_request_uuid": request_uuid, "replicas_deleted": replicas})
