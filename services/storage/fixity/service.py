"""Fixity: one package on demand, whole locations as audits (started through the API or on a schedule).

A check reads the package twice at once, in two worker threads: the package file for its SHA-256, and its
content (streamed out of the archive, never unpacked to disk) for the bag's manifests. No transaction is
open while it runs; the outcome is written afterwards in one short unit of work, then recorded as a PREMIS
`fixity check` event.
"""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import anyio.to_thread

from clients.storage.schemas import AuditRead, AuditStatus, FixityReport, LocationPurpose, PackageStatus
from servicekit.db import unit_of_work, utcnow
from servicekit.problems import Conflict, NotFound
from services.storage import domain_events
from services.storage.fixity.bag import BagCheck, sha256_file, validate_package
from services.storage.fixity.models import Audit
from services.storage.fixity.repository import AuditRepository
from services.storage.locations.repository import LocationRepository
from services.storage.packages.archive import PackageFormat
from services.storage.packages.repository import PackageRepository
from services.storage.packages.service import Place, place_of
from services.storage.runtime import Runtime

log = logging.getLogger(__name__)

CHECKABLE = (PackageStatus.stored, PackageStatus.verified, PackageStatus.failed, PackageStatus.deletion_requested)


async def inspect(runtime: Runtime, place: Place) -> tuple[BagCheck, str | None]:
    """The bag check and the package file's current SHA-256 (None for a folder), read concurrently."""
    path = place.local_path()
    work_dir = place.backend.work_dir()
    seven_zip = runtime.settings.seven_zip

    async def file_digest() -> str | None:
        if place.format == PackageFormat.folder:
            return None
        try:
            return await anyio.to_thread.run_sync(sha256_file, path, limiter=runtime.limiter)
        except OSError:
            return None

    async def bag() -> BagCheck:
        return await anyio.to_thread.run_sync(
            validate_package, place.format, path, seven_zip, work_dir, limiter=runtime.limiter
        )

    check, digest = await asyncio.gather(bag(), file_digest())
    return check, digest


def report_of(place: Place, check: BagCheck, digest: str | None) -> FixityReport:
    errors = list(check.errors)
    expected = place.package.sha256
    if place.format != PackageFormat.folder and digest != expected:
        errors.insert(0, "package file missing or unreadable" if digest is None else
                      f"package file SHA-256 is {digest}, expected {expected}")
    return FixityReport(
        package_uuid=place.package.uuid,
        location_uuid=place.package.location_uuid,
        success=not errors and check.ok,
        checked_at=utcnow(),
        package_sha256_expected=expected if place.format != PackageFormat.folder else None,
        package_sha256_actual=digest,
        files_checked=check.files_checked,
        missing=check.missing,
        changed=check.changed,
        untracked=check.untracked,
        errors=errors,
        event_uuid=None,
    )


def _note(report: FixityReport) -> str:
    if report.success:
        return f"{report.files_checked} files match the bag's manifests"
    parts = [f"{len(report.missing)} missing", f"{len(report.changed)} changed", f"{len(report.untracked)} untracked"]
    lines = [", ".join(parts), *report.errors]
    lines += [f"changed {p.path}: expected {p.expected}, found {p.actual}" for p in report.changed[:20]]
    lines += [f"missing {p.path}: expected {p.expected}" for p in report.missing[:20]]
    lines += [f"untracked {p.path}: found {p.actual}" for p in report.untracked[:20]]
    return "\n".join(lines)


async def check_package(runtime: Runtime, package_uuid: UUID, record_event: bool = True) -> FixityReport:
    async with unit_of_work(runtime.sessions) as session:
        place = await place_of(session, runtime.roots, package_uuid, None)
    if place.package.status not in CHECKABLE:
        raise Conflict(f"Package {package_uuid} is {place.package.status}; there is nothing to check")
    check, digest = await inspect(runtime, place)
    report = report_of(place, check, digest)
    runtime.metrics.fixity_checked(report.success)
    async with unit_of_work(runtime.sessions) as session:
        repo = PackageRepository(session)
        current = await repo.get(package_uuid)
        values: dict[str, object] = {"fixity_checked_at": report.checked_at, "fixity_ok": report.success}
        if current is not None and current.status in (PackageStatus.stored, PackageStatus.verified,
                                                      PackageStatus.failed):
            values["status"] = PackageStatus.verified if report.success else PackageStatus.failed
        await repo.set_fields(package_uuid, **values)
        if current is not None:
            await domain_events.fixity_checked(session, current, report)
    if not report.success:
        log.error("fixity check of package %s FAILED: %s", package_uuid, _note(report).replace("\n", "; "))
    if record_event:
        # Replicas are not packages of the metadata service: their events go to the AIP they copy.
        subject = place.package.replica_of or package_uuid
        detail = 'program="Amber storage"; check="BagIt manifests and package SHA-256"'
        if place.package.replica_of:
            detail += f"; replica=\"{package_uuid}\""
        report.event_uuid = await runtime.events.record(
            subject, "fixity check", "Pass" if report.success else "Fail", detail, _note(report)
        )
    return report


# -- audits ---------------------------------------------------------------------------------------------------


def audit_read(audit: Audit) -> AuditRead:
    return AuditRead(
        uuid=audit.uuid, location_uuid=audit.location_uuid, status=audit.status, started_at=audit.started_at,
        finished_at=audit.finished_at, checked=audit.checked, failed=audit.failed,
        failed_packages=[UUID(value) for value in audit.failed_packages],
    )


async def start_audit(runtime: Runtime, location_uuid: UUID) -> AuditRead:
    async with unit_of_work(runtime.sessions) as session:
        if await LocationRepository(session).get(location_uuid) is None:
            raise NotFound("Location", location_uuid)
        audit = await AuditRepository(session).add(Audit(location_uuid=location_uuid, status=AuditStatus.running))
        started = audit_read(audit)
    runtime.spawn(run_audit(runtime, started.uuid, location_uuid))
    return started


async def run_audit(runtime: Runtime, audit_uuid: UUID, location_uuid: UUID) -> None:
    checked = failed = 0
    failures: list[str] = []
    status = AuditStatus.finished
    try:
        async with unit_of_work(runtime.sessions) as session:
            packages = await PackageRepository(session).in_location(location_uuid, CHECKABLE)
        for package_uuid in packages:
            report = await check_package(runtime, package_uuid)
            checked += 1
            if not report.success:
                failed += 1
                failures.append(str(package_uuid))
            async with unit_of_work(runtime.sessions) as session:
                await AuditRepository(session).progress(audit_uuid, checked, failed, failures)
    except Exception:
        log.exception("audit %s of location %s stopped", audit_uuid, location_uuid)
        status = AuditStatus.failed
    finally:
        async with unit_of_work(runtime.sessions) as session:
            await AuditRepository(session).finish(audit_uuid, status, utcnow(), checked, failed, failures)
    log.info("audit %s of location %s: %d checked, %d failed", audit_uuid, location_uuid, checked, failed)


async def read_audit(runtime: Runtime, audit_uuid: UUID) -> AuditRead:
    async with unit_of_work(runtime.sessions) as session:
        audit = await AuditRepository(session).get(audit_uuid)
        if audit is None:
            raise NotFound("Audit", audit_uuid)
        return audit_read(audit)


async def scheduled_audits(runtime: Runtime) -> None:
    """Forever: wait the configured interval, then audit every AIP storage and replicator location in turn."""
    interval = runtime.settings.fixity_audit_interval_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            async with unit_of_work(runtime.sessions) as session:
                repo = LocationRepository(session)
                locations = [location.uuid for purpose in (LocationPurpose.aip_storage, LocationPurpose.replicator)
                             for location in await repo.list(purpose)]
            for location_uuid in locations:
                started = await _new_audit(runtime, location_uuid)
                await run_audit(runtime, started, location_uuid)
        except Exception:
            log.exception("scheduled audit failed; trying again at the next interval")


async def _new_audit(runtime: Runtime, location_uuid: UUID) -> UUID:
    async with unit_of_work(runtime.sessions) as session:
        audit = await AuditRepository(session).add(Audit(location_uuid=location_uuid, status=AuditStatus.running))
        return audit.uuid
