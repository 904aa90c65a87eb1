"""Transfers: receiving material, placing it for processing, handing it to the ingest service.

Placement copies or extracts whole transfers, so no transaction stays open around it: the record is created in
one short unit of work, the files are placed in a worker thread, and the outcome is recorded in another.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from uuid import UUID

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.ingest import IngestClient, IngestCreate
from clients.ingest.schemas import DEFAULT_PROCESSING_CONFIG, IngestStatus
from clients.storage import StorageClient
from clients.transfer.schemas import (
    FINISHED_STATUSES,
    STATUS_OF_INGEST,
    ArchiveFormat,
    IngestStatusReport,
    TransferFromLocation,
    TransferRead,
    TransferSourceKind,
    TransferStatus,
    TransferType,
    TransferUpdate,
)
from servicekit.db import unit_of_work, utcnow
from servicekit.http import ServiceError
from servicekit.ids import new_id
from servicekit.pagination import Page, PageParams
from servicekit.problems import Conflict, NotFound, Problem
from servicekit.roots import AllowedRoots
from services.transfer.settings import TransferSettings
from services.transfer.transfers import archives, bodies, events, intake, layout
from services.transfer.transfers.bodies import upload_too_large
from services.transfer.transfers.leases import Leases
from services.transfer.transfers.models import Transfer
from services.transfer.transfers.repository import TransferRepository

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]
MAX_ERROR = 8000
TRANSFER_SOURCE = "transfer_source"
APPROVED = "approved; handing to ingest"
HANDING_OFF = "handing to ingest"
# Steps at which the transfer's folder is complete: recovery hands it to ingest instead of removing it.
PLACED_STEPS = frozenset({APPROVED, HANDING_OFF})


def transfer_read(transfer: Transfer) -> TransferRead:
    return TransferRead.model_validate(transfer, from_attributes=True)


async def read_transfer(session: AsyncSession, transfer_uuid: UUID) -> TransferRead:
    transfer = await TransferRepository(session).get(transfer_uuid)
    if transfer is None:
        raise NotFound("Transfer", transfer_uuid)
    return transfer_read(transfer)


async def list_transfers(
    session: AsyncSession, status: TransferStatus | None, page: PageParams, *, include_hidden: bool = False,
    name: str | None = None,
) -> Page[TransferRead]:
    items, total = await TransferRepository(session).page(
        status=status, include_hidden=include_hidden, name=name, limit=page.limit, offset=page.offset
    )
    return Page[TransferRead].of([transfer_read(item) for item in items], total, page)


# --- receiving ---------------------------------------------------------------------------------------------


async def receive_from_location(
    sessions: Sessions,
    settings: TransferSettings,
    storage: StorageClient,
    ingest: IngestClient,
    leases: Leases,
    body: TransferFromLocation,
    caller: str,
) -> TransferRead:
    """Copy a folder of a transfer-source location into a new transfer and hand it to the ingest service."""
    await require_processing_config(ingest, body.processing_config)
    source = await resolve_location_path(storage, settings.location_roots(), body.location_uuid, body.path)
    transfer = await open_transfer(
        sessions, leases, name=body.name, source_kind=TransferSourceKind.location,
        source=f"{body.location_uuid}:{body.path}", created_by=caller, processing_config=body.processing_config,
    )
    target = settings.processing_dir / transfer.path
    staging = settings.processing_dir / "uploads" / f"{transfer.uuid}.copy"
    options = intake_options(settings, body.transfer_type, archive=False)

    def copy() -> Path:
        return layout.copy_to_staging(source, staging, settings.max_transfer_bytes)

    placement = await place(sessions, transfer, lambda: place_staged(copy, staging, target, options),
                            cleanup=[staging, target])
    return await after_placement(sessions, ingest, transfer, placement, auto_approve=body.auto_approve)


def intake_options(
    settings: TransferSettings, transfer_type: TransferType | None, *, archive: bool
) -> intake.IntakeOptions:
    return intake.IntakeOptions(
        transfer_type=transfer_type, remove_hidden=settings.remove_hidden_files, archive=archive
    )


async def receive_upload(
    sessions: Sessions,
    settings: TransferSettings,
    ingest: IngestClient,
    leases: Leases,
    *,
    name: str,
    archive_format: ArchiveFormat | None,
    filename: str | None,
    chunks: AsyncIterator[bytes],
    declared_length: int | None,
    caller: str,
    transfer_type: TransferType | None = None,
    auto_approve: bool = True,
    processing_config: str = DEFAULT_PROCESSING_CONFIG,
) -> TransferRead:
    """Extract an uploaded archive safely into a new transfer and hand that to ingest: a tar or tar.gz while it
    arrives, a zip or 7z (whose directory is at its end) once spooled to disk."""
    if declared_length is not None and declared_length > settings.max_upload_bytes:
        raise upload_too_large(settings.max_upload_bytes)
    # Before the body is read: a transfer ingest could not process is refused before it costs an upload.
    await require_processing_config(ingest, processing_config)
    # The name is claimed before the body arrives, so a second upload of the same name at once is refused early.
    transfer = await open_transfer(
        sessions, leases, name=name, source_kind=TransferSourceKind.upload, source=filename or name,
        created_by=caller,
        processing_config=processing_config,
    )
    try:
        head, chunks = await bodies.read_head(chunks, archives.HEAD_BYTES)
        fmt = archive_format if archive_format is not None else archives.format_of(head)
    except BaseException:
        # Refused before it became a transfer: no record stays.
        await discard_transfer(sessions, transfer.uuid)
        raise
    options = ArchiveOptions(name=name, archive_format=fmt, filename=filename, caller=caller,
                             transfer_type=transfer_type, auto_approve=auto_approve,
                             processing_config=processing_config)
    if fmt in archives.STREAMED:
        return await receive_streamed(sessions, settings, ingest, transfer, options, chunks, declared_length)
    spool = settings.processing_dir / "uploads" / f"{new_id().hex}.upload"
    try:
        try:
            await bodies.spool(chunks, spool, settings.max_upload_bytes)
        except BaseException as exc:
            await discard_transfer(sessions, transfer.uuid)
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise disk_full("receiving the upload") from exc
            raise
        return await receive_spooled(sessions, settings, ingest, leases, spool=spool, options=options,
                                     transfer=transfer)
    finally:
        # Synchronous on purpose: it must also happen when the request is cancelled, and unlinking is quick.
        spool.unlink(missing_ok=True)


async def receive_streamed(
    sessions: Sessions, settings: TransferSettings, ingest: IngestClient, transfer: Transfer,
    options: ArchiveOptions, chunks: AsyncIterator[bytes], declared_length: int | None,
) -> TransferRead:
    """Extract a tar or tar.gz while its bytes arrive: the upload is written to disk once, as the transfer's
    files, instead of spooled whole and then read again."""
    await record_source(sessions, transfer, options.source)
    extraction = Extraction.of(settings, transfer, options.transfer_type)
    read_fd, write_fd = bodies.open_pipe()
    piping = asyncio.create_task(bodies.pipe_into(chunks, write_fd, settings.max_upload_bytes))

    def extract() -> Path:
        with os.fdopen(read_fd, "rb") as source:
            try:
                return archives.extract_stream_to_staging(
                    source, options.archive_format, extraction.staging, extraction.limits, declared_length
                )
            finally:
                # Refused or not, the body is read to its end, so that its sender finishes and hears the answer.
                while source.read(bodies.BLOCK):
                    pass

    try:
        placement = await place(sessions, transfer, lambda: extraction.place_from(extract),
                                cleanup=extraction.cleanup)
    except BaseException:
        failure = await bodies.sender_failure(piping)
        if failure is None:
            raise
        # The upload itself broke off or passed the limit: as when spooling, no record stays.
        await discard_transfer(sessions, transfer.uuid)
        raise failure from None
    failure = await bodies.sender_failure(piping)
    if failure is not None:
        await asyncio.to_thread(layout.remove_tree, extraction.target)
        await discard_transfer(sessions, transfer.uuid)
        raise failure
    return await after_placement(sessions, ingest, transfer, placement, auto_approve=options.auto_approve)


async def discard_transfer(sessions: Sessions, transfer_uuid: UUID) -> None:
    async with unit_of_work(sessions) as session:
        repository = TransferRepository(session)
        transfer = await repository.get_for_update(transfer_uuid)
        if transfer is not None:
            await repository.delete(transfer)


async def receive_spooled(
    sessions: Sessions,
    settings: TransferSettings,
    ingest: IngestClient,
    leases: Leases,
    *,
    spool: Path,
    options: ArchiveOptions,
    transfer: Transfer | None = None,
) -> TransferRead:
    """Extract an archive already on disk into a new transfer (or the one opened for it); the caller removes
    `spool` afterwards."""
    if transfer is None:
        transfer = await open_transfer(
            sessions, leases, name=options.name, source_kind=TransferSourceKind.upload, source=options.source,
            created_by=options.caller, processing_config=options.processing_config,
        )
    else:
        await record_source(sessions, transfer, options.source)
    extraction = Extraction.of(settings, transfer, options.transfer_type)

    def extract() -> Path:
        return archives.extract_to_staging(spool, options.archive_format, extraction.staging, extraction.limits)

    placement = await place(sessions, transfer, lambda: extraction.place_from(extract), cleanup=extraction.cleanup)
    return await after_placement(sessions, ingest, transfer, placement, auto_approve=options.auto_approve)


async def record_source(sessions: Sessions, transfer: Transfer, source: str) -> None:
    """The source names the archive once its format is known (`box.zip` for an upload named `box`)."""
    if transfer.source == source:
        return
    async with unit_of_work(sessions) as session:
        record = await TransferRepository(session).get_for_update(transfer.uuid)
        if record is not None:
            record.source = transfer.source = source


@dataclass(frozen=True)
class ArchiveOptions:
    """What the sender of an archive asked for it."""

    name: str
    archive_format: ArchiveFormat
    filename: str | None
    caller: str
    transfer_type: TransferType | None
    auto_approve: bool
    processing_config: str

    @property
    def source(self) -> str:
        return self.filename or f"{self.name}.{self.archive_format.value}"


@dataclass(frozen=True)
class Extraction:
    """Where an archive is extracted (`staging`), laid out (`target`), and within which limits."""

    staging: Path
    target: Path
    limits: archives.ArchiveLimits
    options: intake.IntakeOptions

    @classmethod
    def of(cls, settings: TransferSettings, transfer: Transfer, transfer_type: TransferType | None) -> Extraction:
        return cls(
            staging=settings.processing_dir / "uploads" / f"{transfer.uuid}.extract",
            target=settings.processing_dir / transfer.path,
            limits=archives.ArchiveLimits(
                max_expanded_bytes=min(settings.max_expanded_bytes, settings.max_transfer_bytes),
                max_entries=settings.max_entries, max_ratio=settings.max_ratio,
            ),
            options=intake_options(settings, transfer_type, archive=True),
        )

    @property
    def cleanup(self) -> list[Path]:
        return [self.staging, self.target]

    def place_from(self, extract: Callable[[], Path]) -> layout.Placement:
        return place_staged(extract, self.staging, self.target, self.options)


def place_staged(stage: Callable[[], Path], staging: Path, target: Path,
                 options: intake.IntakeOptions) -> layout.Placement:
    """Run `stage` (it returns the transfer root it made under `staging`), then lay that out as `target`;
    `staging` is removed either way."""
    try:
        return intake.place_transfer(stage(), target, options)
    finally:
        layout.remove_tree(staging)


def disk_full(doing: str) -> Problem:
    return Problem(507, "Insufficient storage", f"The disk filled up while {doing} (no space left on device)")


async def resolve_location_path(storage: StorageClient, roots: AllowedRoots, location_uuid: UUID, path: str) -> Path:
    """The server path of `path` inside a transfer-source location; it must stay inside once links are resolved,
    and the location's folder inside the allowed roots (the location may predate them, or its root be gone)."""
    try:
        location = await storage.get_location(location_uuid)
    except ServiceError as exc:
        if exc.status == 404:
            raise NotFound("Location", location_uuid) from exc
        raise Problem(502, "Storage service unavailable", f"Could not read location {location_uuid}: {exc}") from exc
    if location.purpose != TRANSFER_SOURCE:
        raise Problem(
            400, "Not a transfer source",
            f"Location {location_uuid} has purpose {location.purpose}, not {TRANSFER_SOURCE}",
        )
    if layout.name_problem(path) or "\x00" in path:
        raise Problem(400, "Invalid path", "The path has control characters")
    relative = PurePosixPath(path)
    if relative.is_absolute():
        raise Problem(400, "Invalid path", "The path must be relative to the location")

    def resolve() -> tuple[Path, bool, bool]:
        root = roots.resolve(location.path, f"Location {location_uuid}")
        candidate = Path(os.path.realpath(root / relative))  # Path.resolve raises on a loop of links
        return candidate, candidate == root or candidate.is_relative_to(root), candidate.exists()

    try:
        candidate, inside, exists = await asyncio.to_thread(resolve)
    except OSError as exc:  # a name too long, a loop of links
        raise Problem(400, "Invalid path", f"'{path}' cannot be resolved: {exc.strerror or exc}") from exc
    if not inside:
        raise Problem(400, "Invalid path", f"'{path}' leads outside location {location_uuid}")
    if not exists:
        raise Problem(404, "Not found", f"'{path}' does not exist in location {location_uuid}")
    return candidate


async def require_processing_config(ingest: IngestClient, name: str) -> None:
    """Refuse a processing configuration the ingest service does not have, before anything is received.

    An unreachable ingest service is said to be so (503) rather than guessed past: the transfer would only fail
    at hand-off, after the whole placement.
    """
    try:
        await ingest.get_processing_config(name)
    except ServiceError as exc:
        if exc.status == 404:
            raise Problem(
                422, "Unknown processing configuration",
                f"The ingest service has no processing configuration named '{name}'; see the ones it has with "
                "GET /processing-configurations",
                errors=[{"loc": ["processing_config"], "msg": "unknown processing configuration", "input": name}],
            ) from exc
        if exc.status is None:
            raise Problem(
                503, "Ingest service unavailable",
                f"Could not check processing configuration '{name}': the ingest service is unreachable ({exc})",
            ) from exc
        raise Problem(
            502, "Ingest service unavailable", f"Could not check processing configuration '{name}': {exc}"
        ) from exc


# --- the record's life ---------------------------------------------------------------------------------------


async def open_transfer(
    sessions: Sessions, leases: Leases, *, name: str, source_kind: TransferSourceKind, source: str, created_by: str,
    processing_config: str,
) -> Transfer:
    transfer_uuid = new_id()
    now = utcnow()
    transfer = Transfer(
        uuid=transfer_uuid, name=name, source_kind=source_kind, source=source, status=TransferStatus.received,
        path=f"transfers/{transfer_uuid}", created_by=created_by, created_at=now, updated_at=now,
        step="placing", active_name=name, processing_config=processing_config,
    )
    leases.take(transfer)
    try:
        async with unit_of_work(sessions) as session:
            TransferRepository(session).add(transfer)
            await events.received(session, transfer)
    except IntegrityError as exc:
        raise Conflict(
            f"A transfer named '{name}' is being received right now; wait for it to be placed, or use another name"
        ) from exc
    return transfer


async def place(
    sessions: Sessions, transfer: Transfer, placer: Callable[[], layout.Placement], cleanup: list[Path]
) -> layout.Placement:
    """Run the placement in a thread; on failure remove what it left and record the transfer as failed."""
    try:
        return await asyncio.to_thread(placer)
    except BaseException as exc:
        for path in cleanup:
            await asyncio.to_thread(layout.remove_tree, path)
        if not isinstance(exc, Exception):
            await finish(sessions, transfer.uuid, status=TransferStatus.failed, error="Placement was interrupted")
            raise
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            problem = disk_full("placing the transfer")
            await finish(sessions, transfer.uuid, status=TransferStatus.failed, error=problem.detail)
            raise Problem(
                507, problem.title, f"{problem.detail}; nothing of it was kept. Transfer {transfer.uuid} was marked "
                "failed."
            ) from exc
        if isinstance(exc, Problem):
            reason = exc.detail or exc.title
            await finish(sessions, transfer.uuid, status=TransferStatus.failed, error=reason)
            raise Problem(
                exc.status, exc.title, f"{reason}. Transfer {transfer.uuid} was marked failed.", errors=exc.errors
            ) from exc
        log.exception("placing transfer %s failed", transfer.uuid)
        reason = f"Placing the transfer failed: {type(exc).__name__}: {exc}"
        await finish(sessions, transfer.uuid, status=TransferStatus.failed, error=reason)
        raise Problem(
            500, "Transfer placement failed", f"{reason}. Transfer {transfer.uuid} was marked failed."
        ) from exc


async def after_placement(
    sessions: Sessions, ingest: IngestClient, transfer: Transfer, placement: layout.Placement, *, auto_approve: bool
) -> TransferRead:
    if auto_approve:
        return await hand_off(sessions, ingest, transfer, placement)
    return await finish(
        sessions, transfer.uuid, status=TransferStatus.awaiting_approval, placement=placement,
        step="awaiting approval",
    )


async def _claim_awaiting_approval(session: AsyncSession, leases: Leases, transfer_uuid: UUID, step: str) -> Transfer:
    """The transfer, locked and taken out of `awaiting approval` (409 from any other status), so that of an approval
    and a rejection racing each other only one proceeds."""
    transfer = await TransferRepository(session).get_for_update(transfer_uuid)
    if transfer is None:
        raise NotFound("Transfer", transfer_uuid)
    if transfer.status is not TransferStatus.awaiting_approval:
        raise Conflict(f"Transfer {transfer_uuid} is {transfer.status.value}, not awaiting approval")
    transfer.status = TransferStatus.received
    transfer.step = step
    leases.take(transfer)
    return transfer


async def approve_transfer(
    sessions: Sessions, ingest: IngestClient, leases: Leases, transfer_uuid: UUID
) -> TransferRead:
    """Hand a transfer awaiting approval to ingest; it is claimed first, so two approvals cannot both proceed."""
    async with unit_of_work(sessions) as session:
        transfer = await _claim_awaiting_approval(session, leases, transfer_uuid, APPROVED)
        transfer.updated_at = utcnow()
        placement = layout.Placement(file_count=transfer.file_count, size=transfer.size)
        claimed = Transfer(**transfer.model_dump())
    return await hand_off(sessions, ingest, claimed, placement)


async def reject_transfer(
    sessions: Sessions, settings: TransferSettings, leases: Leases, transfer_uuid: UUID, reason: str | None
) -> TransferRead:
    """Reject a transfer awaiting approval: its placed folder goes, the record stays (status `rejected`)."""
    async with unit_of_work(sessions) as session:
        transfer = await _claim_awaiting_approval(session, leases, transfer_uuid, "rejecting")
        path = transfer.path
    await asyncio.to_thread(layout.remove_tree, settings.processing_dir / path)
    return await finish(
        sessions, transfer_uuid, status=TransferStatus.rejected, step="rejected",
        error=f"Rejected: {reason}" if reason else "Rejected",
    )


async def delete_transfer(sessions: Sessions, settings: TransferSettings, transfer_uuid: UUID) -> None:
    """Forget a finished transfer; a failed or rejected one has nothing placed, an ingesting one belongs to ingest."""
    async with unit_of_work(sessions) as session:
        repository = TransferRepository(session)
        transfer = await repository.get_for_update(transfer_uuid)
        if transfer is None:
            raise NotFound("Transfer", transfer_uuid)
        if transfer.status not in FINISHED_STATUSES:
            raise Conflict(f"Transfer {transfer_uuid} is {transfer.status.value}; only finished transfers go")
        path = settings.processing_dir / transfer.path
        # Once handed over, the folder belongs to the ingest (kept for a retry; its clean-up removes it).
        remove = transfer.ingest_uuid is None
        await repository.delete(transfer)
    if remove:
        await asyncio.to_thread(layout.remove_tree, path)


async def update_transfer(session: AsyncSession, transfer_uuid: UUID, body: TransferUpdate) -> TransferRead:
    transfer = await TransferRepository(session).get_for_update(transfer_uuid)
    if transfer is None:
        raise NotFound("Transfer", transfer_uuid)
    if body.hidden is not None:
        if body.hidden and transfer.status not in FINISHED_STATUSES:
            raise Conflict(f"Transfer {transfer_uuid} is {transfer.status.value}; only finished transfers hide")
        transfer.hidden = body.hidden
    transfer.updated_at = utcnow()
    return transfer_read(transfer)


async def hand_off(
    sessions: Sessions, ingest: IngestClient, transfer: Transfer, placement: layout.Placement
) -> TransferRead:
    """Ask the ingest service to process the placed transfer; record the outcome either way."""
    # Recorded first: from here on the placed folder is complete material that recovery hands over, never removes.
    await record_step(sessions, transfer.uuid, HANDING_OFF, placement)
    try:
        created = await ingest.create_ingest(ingest_request(transfer))
    except Exception as exc:
        # The placed folder stays: the ingest may exist after all (a lost answer), and it is the material.
        reason = f"The ingest service did not take the transfer: {exc}"
        if isinstance(exc, ServiceError | httpx.HTTPError):
            log.warning("transfer %s: %s", transfer.uuid, reason)
        else:
            log.exception("transfer %s: handing over to ingest failed", transfer.uuid)
        await finish(
            sessions, transfer.uuid, status=TransferStatus.failed, error=reason, placement=placement
        )
        # A refusal (e.g. the processing configuration was deleted since the transfer was created) is about the
        # transfer, not an outage: sending it again unchanged would not help.
        refused = isinstance(exc, ServiceError) and exc.status in (404, 422)
        raise Problem(
            422 if refused else 502, "Ingest refused the transfer" if refused else "Ingest service unavailable",
            f"{reason}. Transfer {transfer.uuid} was marked failed.",
        ) from exc
    return await finish(
        sessions, transfer.uuid, status=TransferStatus.ingesting, placement=placement, ingest_uuid=created.uuid,
        step="handed to ingest",
    )


async def finish(
    sessions: Sessions,
    transfer_uuid: UUID,
    *,
    status: TransferStatus,
    error: str | None = None,
    placement: layout.Placement | None = None,
    ingest_uuid: UUID | None = None,
    step: str | None = None,
) -> TransferRead:
    async with unit_of_work(sessions) as session:
        transfer = await TransferRepository(session).get_for_update(transfer_uuid)
        if transfer is None:
            raise NotFound("Transfer", transfer_uuid)
        transfer.status = status
        transfer.active_name = None
        transfer.owner = transfer.lease_expires_at = None
        if step is not None:
            transfer.step = step
        # Error texts may quote file names that are not valid UTF-8; the database only takes valid text.
        transfer.error = layout.shown(error)[:MAX_ERROR] if error else None
        if placement is not None:
            transfer.file_count = placement.file_count
            transfer.size = placement.size
            if placement.transfer_type is not None:
                transfer.transfer_type = placement.transfer_type
        if ingest_uuid is not None:
            transfer.ingest_uuid = ingest_uuid
        transfer.updated_at = utcnow()
        await events.finished(session, transfer)
        return transfer_read(transfer)


async def report_ingest_status(session: AsyncSession, transfer_uuid: UUID, report: IngestStatusReport) -> TransferRead:
    """Follow the ingest: its status mapped onto the transfer's. A report about an ingest the transfer has moved
    on from (an attempt a retry replaced, arriving late) changes nothing."""
    transfer = await TransferRepository(session).get_for_update(transfer_uuid)
    if transfer is None:
        raise NotFound("Transfer", transfer_uuid)
    current = transfer.ingest_uuid
    if current is not None and report.ingest_uuid != current and report.retry_of != current:
        return transfer_read(transfer)
    failed = report.status in (IngestStatus.failed, IngestStatus.rejected)
    error = layout.shown(f"Ingest {report.status.value}: {report.error or ''}".rstrip(": "))[:MAX_ERROR] \
        if failed else None
    changes = {"ingest_uuid": report.ingest_uuid, "status": STATUS_OF_INGEST[report.status],
               "step": f"ingest {report.status.value}", "error": error}
    if any(getattr(transfer, field) != value for field, value in changes.items()):
        for field, value in changes.items():
            setattr(transfer, field, value)
        transfer.updated_at = utcnow()
    return transfer_read(transfer)


def declared_length(header: str | None) -> int | None:
    try:
        return int(header) if header is not None else None
    except ValueError:
        return None



def ingest_request(transfer: Transfer) -> IngestCreate:
    return IngestCreate(
        transfer_uuid=transfer.uuid, name=transfer.name, path=transfer.path, created_by=transfer.created_by,
        processing_config=transfer.processing_config,
    )


async def record_step(sessions: Sessions, transfer_uuid: UUID, step: str, placement: layout.Placement) -> None:
    async with unit_of_work(sessions) as session:
        transfer = await TransferRepository(session).get_for_update(transfer_uuid)
        if transfer is None:
            raise NotFound("Transfer", transfer_uuid)
        transfer.step = step
        transfer.file_count = placement.file_count
        transfer.size = placement.size
        if placement.transfer_type is not None:
            transfer.transfer_type = placement.transfer_type
        transfer.updated_at = utcnow()


# --- recovery ------------------------------------------------------------------------------------------------


async def recover_abandoned(sessions: Sessions, settings: TransferSettings, ingest: IngestClient,
                            leases: Leases) -> int:
    """Transfers whose process died (their lease ran out): one already placed and on its way to ingest is handed
    over again (ingest answers a second request for a transfer with the same ingest), so an approved transfer is
    never lost; any other is failed, its partial copy removed and its name freed. Returns how many were taken."""
    async with unit_of_work(sessions) as session:
        abandoned = await TransferRepository(session).abandoned(utcnow())
        resumed: list[Transfer] = []
        failing: list[tuple[UUID, str, str | None]] = []
        for transfer in abandoned:
            # Taken by this process either way, so no other instance recovers it while its folder is removed.
            leases.take(transfer)
            transfer.updated_at = utcnow()
            if transfer.step in PLACED_STEPS:
                resumed.append(Transfer(**transfer.model_dump()))
            else:
                failing.append((transfer.uuid, transfer.path, transfer.step))
    # The partial copy goes before the failure is recorded: a failed transfer never has one left behind, and a
    # crash in between leaves the transfer abandoned again for the next round.
    for _, path, _ in failing:
        await asyncio.to_thread(layout.remove_tree, settings.processing_dir / path)
    if failing:
        async with unit_of_work(sessions) as session:
            repository = TransferRepository(session)
            for transfer_uuid, _, step in failing:
                record = await repository.get_for_update(transfer_uuid)
                if record is None or record.owner != leases.owner or record.status is not TransferStatus.received:
                    continue
                record.status = TransferStatus.failed
                record.error = f"The transfer service stopped while the transfer was {step or 'received'}"
                record.active_name = None
                record.owner = record.lease_expires_at = None
                record.updated_at = utcnow()
                await events.finished(session, record)
    for transfer in resumed:
        await resume_hand_off(sessions, ingest, transfer)
    return len(abandoned)


async def resume_hand_off(sessions: Sessions, ingest: IngestClient, transfer: Transfer) -> None:
    """Hand a placed transfer whose process died to ingest. While ingest cannot be reached the transfer is left
    for a later round (its lease given up); a refusal fails it, its folder kept, as at a first hand-off."""
    try:
        created = await ingest.create_ingest(ingest_request(transfer))
    except Exception as exc:
        if isinstance(exc, ServiceError) and exc.status in (404, 422):
            await finish(sessions, transfer.uuid, status=TransferStatus.failed,
                         error=f"The ingest service did not take the transfer: {exc}")
            return
        log.warning("transfer %s: handing over to ingest again failed (%s); will try again", transfer.uuid, exc)
        async with unit_of_work(sessions) as session:
            record = await TransferRepository(session).get_for_update(transfer.uuid)
            if record is not None and record.status is TransferStatus.received:
                record.owner = record.lease_expires_at = None
        return
    await finish(sessions, transfer.uuid, status=TransferStatus.ingesting, ingest_uuid=created.uuid,
                 step="handed to ingest")
