"""Replication to the replicator locations attached to an AIP's location, and recovery from a replica.

A copy is staged in the target location's `.incoming` area and verified there (the package file's SHA-256,
or the whole bag of an uncompressed AIP) before one rename puts it in place, so a replica that exists is
complete. Replicas are AIP records of their own (`replica_of` names the original), with the original's
quad path in their location.
"""

from __future__ import annotations

import logging
import shutil
from uuid import UUID

import anyio.to_thread

from clients.storage.schemas import PackageRead, PackageStatus, PackageType, RecoveryRead
from servicekit.db import unit_of_work, utcnow
from servicekit.ids import derived_id
from servicekit.problems import Conflict, Problem
from servicekit.roots import PathNotAllowed
from services.storage import domain_events
from services.storage.fixity.bag import validate_package
from services.storage.fixity.service import check_package
from services.storage.locations.repository import LocationRepository
from services.storage.locations.service import LocationTarget, location_target
from services.storage.packages.archive import PackageFormat
from services.storage.packages.models import Package
from services.storage.packages.repository import PackageRepository
from services.storage.packages.service import Place, package_read, place_of
from services.storage.runtime import Runtime
from services.storage.spaces.backend import SpaceBackend

log = logging.getLogger(__name__)


class CopyFailed(Exception):
    pass


async def copy_package(runtime: Runtime, source: Place, backend: SpaceBackend, relative_path: str) -> None:
    """Copy `source` to `relative_path` of `backend`, verified before it is put in place."""
    label = str(source.package.uuid)
    if source.format == PackageFormat.folder:
        incoming = await backend.open_incoming_folder(label)
        staged = incoming.staging / "package"
        try:
            await anyio.to_thread.run_sync(shutil.copytree, source.local_path(), staged, limiter=runtime.limiter)
            check = await anyio.to_thread.run_sync(
                validate_package, PackageFormat.folder, staged, runtime.settings.seven_zip, None,
                limiter=runtime.limiter,
            )
            if not check.ok:
                raise CopyFailed(f"the copied bag does not validate: {check.errors or check.changed or check.missing}")
            await incoming.commit(relative_path, "package")
        except BaseException:
            incoming.discard_sync()
            raise
        return
    incoming_file = await backend.open_incoming(label)
    try:
        async with runtime.limiter:
            async for chunk in source.backend.open_read(source.package.current_path):
                await incoming_file.write(chunk)
            await incoming_file.finish()
        if incoming_file.sha256 != source.package.sha256:
            raise CopyFailed(f"the copy's SHA-256 is {incoming_file.sha256}, expected {source.package.sha256}")
        await incoming_file.commit(relative_path)
    except BaseException:
        await incoming_file.discard()
        raise


async def replicate(runtime: Runtime, aip_uuid: UUID) -> list[PackageRead]:
    """Copy the AIP to every replicator location of its location that has no good copy yet."""
    async with unit_of_work(runtime.sessions) as session:
        place = await place_of(session, runtime.roots, aip_uuid)
        replicators = await LocationRepository(session).replicators_of(place.package.location_uuid)
        targets = [await location_target(session, r.uuid, place.location.purpose, runtime.roots) for r in replicators]
    replicas: list[PackageRead] = []
    for target in targets:
        replica = await _replicate_to(runtime, place, target)
        if replica is not None:
            runtime.metrics.stored(replica)
            replicas.append(replica)
    return replicas


async def _replicate_to(runtime: Runtime, place: Place, target: LocationTarget) -> PackageRead | None:
    original = place.package
    replica_uuid = derived_id(original.uuid, "replica", target.uuid)
    async with unit_of_work(runtime.sessions) as session:
        repo = PackageRepository(session)
        existing = await repo.get(replica_uuid)
        if existing is not None and existing.status in (PackageStatus.stored, PackageStatus.verified):
            return package_read(existing)
        fields = {
            "name": original.name, "package_type": PackageType.aip, "status": PackageStatus.pending,
            "location_uuid": target.uuid, "current_path": original.current_path, "size": original.size,
            "sha256": original.sha256, "origin": f"replica of {original.uuid}", "uncompressed": original.uncompressed,
            "replica_of": original.uuid,
        }
        if existing is None:
            await repo.add(Package(uuid=replica_uuid, **fields))  # type: ignore[arg-type]
        else:
            await repo.set_fields(replica_uuid, **fields)
    try:
        await copy_package(runtime, place, await target.open_backend(), original.current_path)
    except (CopyFailed, OSError, PathNotAllowed) as exc:
        log.error("replication of %s to location %s failed: %s", original.uuid, target.uuid, exc)
        async with unit_of_work(runtime.sessions) as session:
            await PackageRepository(session).set_fields(replica_uuid, status=PackageStatus.failed)
            await domain_events.replicated(session, original.uuid, replica_uuid, target.uuid, str(exc))
        await runtime.events.record(original.uuid, "replication", "Fail",
                                    f'program="Amber storage"; replica="{replica_uuid}"', str(exc))
        return None
    now = utcnow()
    async with unit_of_work(runtime.sessions) as session:
        repo = PackageRepository(session)
        await repo.set_fields(replica_uuid, status=PackageStatus.verified, stored_at=now, fixity_checked_at=now,
                              fixity_ok=True)
        await LocationRepository(session).add_used(target.uuid, original.size or 0)
        stored = await repo.get(replica_uuid)
        assert stored is not None
        replica = package_read(stored)
        await domain_events.replicated(session, original.uuid, replica_uuid, target.uuid, None)
    await runtime.events.record(
        original.uuid, "replication", "Pass", f'program="Amber storage"; replica="{replica_uuid}"',
        f"Replicated to location {target.uuid} as {replica_uuid}; copy verified",
    )
    log.info("replicated %s to location %s as %s", original.uuid, target.uuid, replica_uuid)
    return replica


async def list_replicas(runtime: Runtime, aip_uuid: UUID) -> list[PackageRead]:
    async with unit_of_work(runtime.sessions) as session:
        await place_of(session, runtime.roots, aip_uuid)
        return [package_read(p) for p in await PackageRepository(session).replicas_of(aip_uuid)]


async def recover(runtime: Runtime, aip_uuid: UUID, user: str) -> RecoveryRead:
    """Restore an AIP that fails fixity from the first of its replicas that passes."""
    before = await check_package(runtime, aip_uuid)
    if before.success:
        raise Conflict(f"AIP {aip_uuid} passes its fixity check; there is nothing to recover")
    async with unit_of_work(runtime.sessions) as session:
        primary = await place_of(session, runtime.roots, aip_uuid)
        replicas = [p.uuid for p in await PackageRepository(session).replicas_of(aip_uuid)
                    if p.status in (PackageStatus.stored, PackageStatus.verified)]
    for replica_uuid in replicas:
        replica_report = await check_package(runtime, replica_uuid)
        if not replica_report.success:
            continue
        async with unit_of_work(runtime.sessions) as session:
            replica = await place_of(session, runtime.roots, replica_uuid)
        try:
            await copy_package(runtime, replica, primary.backend, primary.package.current_path)
        except (CopyFailed, OSError) as exc:
            log.error("recovering %s from replica %s failed: %s", aip_uuid, replica_uuid, exc)
            continue
        after = await check_package(runtime, aip_uuid)
        async with unit_of_work(runtime.sessions) as session:
            await domain_events.recovered(
                session, aip_uuid, replica_uuid, after.success,
                "" if after.success else f"restored from replica {replica_uuid}, the AIP still fails its fixity check")
        await runtime.events.record(
            aip_uuid, "recovery", "Pass" if after.success else "Fail",
            f'program="Amber storage"; replica="{replica_uuid}"',
            f"Restored from replica {replica_uuid} after a failed fixity check", user=user,
        )
        async with unit_of_work(runtime.sessions) as session:
            recovered = await place_of(session, runtime.roots, aip_uuid)
        return RecoveryRead(package=recovered.package, replica_uuid=replica_uuid, before=before, after=after)
    async with unit_of_work(runtime.sessions) as session:
        await domain_events.recovered(session, aip_uuid, None, False, "no replica passed its fixity check")
    await runtime.events.record(aip_uuid, "recovery", "Fail", 'program="Amber storage"',
                                "No replica passed its fixity check", user=user)
    raise Problem(409, "No good replica", f"AIP {aip_uuid} has no replica that passes its fixity check")
