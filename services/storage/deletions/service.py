"""Deletion: requested with a reason by one user, approved or rejected by another; nothing is deleted before.

Every step is a PREMIS event of the package (`deletion request`, `deletion request rejected`, `deletion`).
Approval deletes the package and its replicas; the records stay, with the status `deleted`.
"""

from __future__ import annotations

import logging
from uuid import UUID

from clients.storage.schemas import (
    DeletionDecision,
    DeletionRequestCreate,
    DeletionRequestRead,
    DeletionRequestStatus,
    PackageStatus,
    PackageType,
)
from servicekit.db import unit_of_work, utcnow
from servicekit.http import ServiceError
from servicekit.problems import Conflict, NotFound, Problem
from services.storage import domain_events
from services.storage.deletions.models import DeletionRequest
from services.storage.deletions.repository import DeletionRepository
from services.storage.locations.repository import LocationRepository
from services.storage.packages.repository import PackageRepository
from services.storage.packages.service import place_of
from services.storage.runtime import Runtime

log = logging.getLogger(__name__)

DELETABLE = (PackageStatus.stored, PackageStatus.verified, PackageStatus.failed)


def deletion_read(request: DeletionRequest) -> DeletionRequestRead:
    return DeletionRequestRead.model_validate(request)


async def request_deletion(
    runtime: Runtime, package_uuid: UUID, body: DeletionRequestCreate, user: str
) -> DeletionRequestRead:
    async with unit_of_work(runtime.sessions) as session:
        place = await place_of(session, runtime.roots, package_uuid, None)
        if place.package.replica_of is not None:
            raise Conflict(f"{package_uuid} is a replica; request the deletion of {place.package.replica_of}")
        if place.package.status not in DELETABLE:
            raise Conflict(f"Package {package_uuid} is {place.package.status}; it cannot be deleted")
        repo = DeletionRepository(session)
        if await repo.pending_for(package_uuid) is not None:
            raise Conflict(f"A deletion of package {package_uuid} is already requested")
        request = await repo.add(DeletionRequest(
            package_uuid=package_uuid, reason=body.reason, requested_by=user, status=DeletionRequestStatus.pending,
        ))
        await PackageRepository(session).set_fields(package_uuid, status=PackageStatus.deletion_requested)
        created = deletion_read(request)
        await domain_events.deletion(session, created)
    await runtime.events.record(package_uuid, "deletion request", "", 'program="Amber storage"',
                                f"Requested by {user}: {body.reason}", user=user)
    return created


async def _pending(session_repo: DeletionRepository, request_uuid: UUID, user: str) -> DeletionRequest:
    request = await session_repo.get(request_uuid)
    if request is None:
        raise NotFound("Deletion request", request_uuid)
    if request.status != DeletionRequestStatus.pending:
        raise Conflict(f"Deletion request {request_uuid} is already {request.status}")
    if request.requested_by == user:
        raise Problem(403, "Forbidden", "A deletion must be approved or rejected by another user than its requester")
    return request


async def reject_deletion(
    runtime: Runtime, request_uuid: UUID, decision: DeletionDecision, user: str
) -> DeletionRequestRead:
    async with unit_of_work(runtime.sessions) as session:
        repo = DeletionRepository(session)
        request = await _pending(repo, request_uuid, user)
        request.status = DeletionRequestStatus.rejected
        request.decided_by, request.decided_at, request.note = user, utcnow(), decision.note
        packages = PackageRepository(session)
        package = await packages.get(request.package_uuid)
        assert package is not None
        back = PackageStatus.verified if package.fixity_ok else (
            PackageStatus.failed if package.fixity_ok is False else PackageStatus.stored)
        await packages.set_fields(request.package_uuid, status=back)
        await session.flush()
        rejected = deletion_read(request)
        await domain_events.deletion(session, rejected)
    await runtime.events.record(rejected.package_uuid, "deletion request rejected", "", 'program="Amber storage"',
                                f"Rejected by {user}: {decision.note}", user=user)
    return rejected


async def approve_deletion(
    runtime: Runtime, request_uuid: UUID, decision: DeletionDecision, user: str
) -> DeletionRequestRead:
    async with unit_of_work(runtime.sessions) as session:
        request = await _pending(DeletionRepository(session), request_uuid, user)
        package_uuid = request.package_uuid
        places = [await place_of(session, runtime.roots, package_uuid, None)]
        places += [await place_of(session, runtime.roots, replica.uuid, None)
                   for replica in await PackageRepository(session).replicas_of(package_uuid)
                   if replica.status != PackageStatus.deleted]
    # Files first, outside any transaction; a crash in between leaves the request pending, to approve again.
    for place in places:
        await place.backend.delete(place.package.current_path)
        if place.package.pointer_path:  # it describes the package file, so it goes with it
            await place.backend.delete(place.package.pointer_path)
    async with unit_of_work(runtime.sessions) as session:
        repo = DeletionRepository(session)
        request = await _pending(repo, request_uuid, user)
        request.status = DeletionRequestStatus.approved
        request.decided_by, request.decided_at, request.note = user, utcnow(), decision.note
        packages = PackageRepository(session)
        for place in places:
            await packages.set_fields(place.package.uuid, status=PackageStatus.deleted)
            if place.package.status != PackageStatus.pending:
                await LocationRepository(session).add_used(place.package.location_uuid, -(place.package.size or 0))
        await session.flush()
        approved = deletion_read(request)
        await domain_events.deletion(session, approved)
        deleted = await packages.get(package_uuid)
        assert deleted is not None
        await domain_events.package_deleted(session, deleted, approved.uuid, len(places) - 1)
    log.info("deleted package %s (and %d replicas) approved by %s", package_uuid, len(places) - 1, user)
    await runtime.events.record(package_uuid, "deletion", "Pass", 'program="Amber storage"',
                                f"Requested by {approved.requested_by} ({approved.reason}); approved by {user}",
                                user=user)
    if places[0].package.package_type == PackageType.aip:
        await _leave_search(runtime, package_uuid)
    return approved


async def _leave_search(runtime: Runtime, package_uuid: UUID) -> None:
    """A deleted AIP must not be found any more; like its events, a failure is logged and never undoes the
    deletion (the metadata service's DELETE can be repeated by hand: it is idempotent)."""
    client = runtime.events.client
    if client is None:
        return
    try:
        await client.remove_from_index(package_uuid)
    except ServiceError as exc:
        log.error("deleted AIP %s could not be taken out of search: %s", package_uuid, exc)


async def read_deletion(runtime: Runtime, request_uuid: UUID) -> DeletionRequestRead:
    async with unit_of_work(runtime.sessions) as session:
        request = await DeletionRepository(session).get(request_uuid)
        if request is None:
            raise NotFound("Deletion request", request_uuid)
        return deletion_read(request)


async def list_deletions(runtime: Runtime, status: DeletionRequestStatus | None) -> list[DeletionRequestRead]:
    async with unit_of_work(runtime.sessions) as session:
        return [deletion_read(r) for r in await DeletionRepository(session).listing(status)]
