"""The ingest activities: every piece of I/O of the workflow, each safe to run again after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.ingest import (
    DecisionRead,
    IngestClient,
    IngestStatus,
    IngestUpdate,
    JobStatus,
    JobUpsert,
    TaskRecord,
    TaskStatus,
)
from clients.metadata import (
    AgentRecord,
    AipPackageRecord,
    EventRecord,
    FileRecord,
    MetadataClient,
    ObjectEventRecord,
    PackageUpsert,
)
from clients.storage import StorageClient
from servicekit.http import ServiceError
from servicekit.ids import derived_id
from servicekit.logs import package_id_var
from services.ingest.microservices.results import FileOutcome, bounded
from services.ingest.microservices.validation import ValidationService
from services.ingest.processing import decisions
from services.ingest.processing.bagging import BAGIT_TXT, bag_info_lines, encode_manifest_path, write_atomically
from services.ingest.processing.hashing import sha256_file
from services.ingest.processing.identification import UNIDENTIFIED, Identification, identify, siegfried_version
from services.ingest.processing.journal import JOURNAL_NAME, JournalSplitter, load_file_events, read_journal
from services.ingest.processing.layout import SipLayout
from services.ingest.processing.names import sanitize_package_name
from services.ingest.processing.params import Batch, BatchResult, IngestParams, Inventory, PackedAip, StoredAip
from services.ingest.settings import AipHandover, IngestSettings

log = logging.getLogger(__name__)
AMBER_VERSION = version("amber")
FILES_PER_THREAD_HOP = 25
OUTPUT_LIMIT = 4000
T = TypeVar("T")
SEVEN_ZIP_METHODS = {"7z using bzip2": "bzip2", "7z using lzma": "lzma", "7z without compression": "copy"}


def aip_name(params: IngestParams) -> str:
    return f"{sanitize_package_name(params.name)}-{params.ingest_uuid}"


def transfer_label(params: IngestParams) -> str:
    """The transfer's folder name inside the SIP's metadata and logs, as Archivematica names it."""
    return f"{sanitize_package_name(params.name)}-{params.transfer_uuid}"


def journal_path(layout: SipLayout, params: IngestParams) -> Path:
    return layout.data / "logs" / "transfers" / transfer_label(params) / "logs" / JOURNAL_NAME


class IngestActivities:
    """Activities bound to one worker's settings and HTTP clients."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        token = settings.resolved_internal_token()
        self.ingest = IngestClient(settings.ingest_url, token=token)
        self.metadata = MetadataClient(settings.metadata_url, token=token, timeout=300)
        self.storage = StorageClient(settings.storage_url, token=token, timeout=600)

    async def aclose(self) -> None:
        for client in (self.ingest, self.metadata, self.storage):
            await client.aclose()

    def all(self) -> list[Any]:
        return [self.prepare_sip, self.process_batch, self.record_transfer_metadata, self.build_bag,
                self.compress_aip, self.store_aip, self.finish_ingest, self.mark_ingest_failed,
                self.await_decision, self.reject_ingest]

    def layout(self, params: IngestParams) -> SipLayout:
        return SipLayout(self.settings.processing_dir, params.ingest_uuid, aip_name(params))

    # -- job records -------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def job(self, params: IngestParams, key: str, name: str, microservice: str,
                  files_total: int | None = None) -> AsyncIterator[JobUpsert]:
        """Record a job as running, then completed or failed (with a bounded message)."""
        package_id_var.set(params.ingest_uuid)
        ingest_uuid = UUID(params.ingest_uuid)
        job = JobUpsert(name=name, microservice=microservice, status=JobStatus.running, files_total=files_total,
                        files_done=0, started_at=datetime.now(UTC))
        await self.ingest.upsert_job(ingest_uuid, key, job)
        await self.ingest.update_ingest(ingest_uuid, IngestUpdate(status=IngestStatus.processing, current_job=name))
        try:
            yield job
        except BaseException as exc:
            job.status, job.exit_code = JobStatus.failed, 1
            job.message = (str(exc) or type(exc).__name__)[:OUTPUT_LIMIT]
            job.finished_at = datetime.now(UTC)
            with contextlib.suppress(Exception):
                await self.ingest.upsert_job(ingest_uuid, key, job)
            raise
        job.status, job.exit_code, job.finished_at = JobStatus.completed, 0, datetime.now(UTC)
        await self.ingest.upsert_job(ingest_uuid, key, job)

    def agents(self, params: IngestParams) -> list[AgentRecord]:
        return [
            AgentRecord(identifier_type="preservation system", identifier_value=f"Amber-{AMBER_VERSION}",
                        name="Amber", agent_type="software"),
            AgentRecord(identifier_type="repository code", identifier_value=self.settings.organization_code,
                        name=self.settings.organization_name, agent_type="organization"),
            AgentRecord(identifier_type="Amber user", identifier_value=params.created_by,
                        name=f'username="{params.created_by}"', agent_type="Amber user"),
        ]

    # -- prepare -----------------------------------------------------------------------------------------------

    @activity.defn(name="prepare_sip")
    async def prepare_sip(self, params: IngestParams) -> Inventory:
        layout = self.layout(params)
        async with self.job(params, "prepare", "Create SIP from transfer", "Create SIP"):
            await asyncio.to_thread(self._arrange, params, layout)
            await self.metadata.upsert_package(
                UUID(params.ingest_uuid),
                PackageUpsert(name=sanitize_package_name(params.name), transfer_uuid=UUID(params.transfer_uuid)),
            )
            inventory = await asyncio.to_thread(self._inventory, params, layout)
        await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(file_count=inventory.file_count))
        return inventory

    def _arrange(self, params: IngestParams, layout: SipLayout) -> None:
        """Move the transfer into the bag layout: renames within one filesystem, each step safe to repeat."""
        transfer = self.settings.processing_dir / params.transfer_path
        objects = layout.data / "objects"
        if not objects.exists():
            if not (transfer / "objects").is_dir():
                raise ApplicationError(f"transfer folder {params.transfer_path}/objects is missing",
                                       non_retryable=True)
            layout.data.mkdir(parents=True, exist_ok=True)
            (transfer / "objects").rename(objects)
        if not transfer.exists():
            return
        kept_metadata = objects / "metadata" / "transfers" / transfer_label(params)
        kept_logs = layout.data / "logs" / "transfers" / transfer_label(params)
        for entry in sorted(transfer.iterdir()):
            target = kept_logs / "logs" if entry.name == "logs" else kept_metadata / entry.name
            if entry.name == "metadata":
                target = kept_metadata
            if target.exists():
                raise ApplicationError(f"cannot place transfer {entry.name}: {target} exists", non_retryable=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            entry.rename(target)
        transfer.rmdir()

    def _inventory(self, params: IngestParams, layout: SipLayout) -> Inventory:
        layout.work.mkdir(parents=True, exist_ok=True)
        temp = layout.inventory.with_name("inventory.jsonl.part")
        batches: list[Batch] = []
        batch_of: dict[str, int] = {}
        count = total = offset = 0
        refused: list[str] = []
        with temp.open("wb") as out:
            for root, dirs, files in os.walk(layout.data / "objects"):
                dirs.sort()
                for name in sorted(files):
                    path = Path(root) / name
                    relative = path.relative_to(layout.data).as_posix()
                    stat = path.lstat()
                    if not path.is_file() or path.is_symlink():
                        refused.append(relative)
                        continue
                    if count % params.batch_size == 0:
                        batches.append(Batch(index=len(batches), offset=offset, count=0))
                    line = json.dumps({"p": relative, "s": stat.st_size, "m": stat.st_mtime}).encode() + b"\n"
                    out.write(line)
                    batch_of[relative] = len(batches) - 1
                    offset += len(line)
                    count += 1
                    total += stat.st_size
                    last = batches[-1]
                    batches[-1] = Batch(index=last.index, offset=last.offset, count=last.count + 1)
            out.flush()
            os.fsync(out.fileno())
        if refused:
            raise ApplicationError(f"not regular files (links, devices): {', '.join(refused[:20])}",
                                   non_retryable=True)
        temp.replace(layout.inventory)
        journal = journal_path(layout, params)
        if journal.exists():
            JournalSplitter(layout.work).split(journal, batch_of, transfer_label(params))
        return Inventory(sip_dir=str(layout.bag.relative_to(self.settings.processing_dir)),
                         aip_name=layout.aip_name, file_count=count, total_bytes=total, batches=batches)

    # -- files -------------------------------------------------------------------------------------------------

    @activity.defn(name="process_batch")
    async def process_batch(self, params: IngestParams, inventory: Inventory, batch: Batch,
                            identify_formats: bool = True) -> BatchResult:
        """Assign UUIDs, checksum, identify and validate one batch of files, and record their PREMIS events."""
        layout = self.layout(params)
        entries = await asyncio.to_thread(_read_inventory, layout.inventory, batch)
        key = f"batch-{batch.index:06d}"
        name = f"Assign UUIDs, checksums, identify formats ({batch.index + 1}/{len(inventory.batches)})"
        async with self.job(params, key, name, "Process files", files_total=len(entries)) as job:
            results: list[Examined] = []
            for start in range(0, len(entries), FILES_PER_THREAD_HOP):
                chunk = entries[start:start + FILES_PER_THREAD_HOP]
                results.extend(await asyncio.to_thread(_examine, layout.data, chunk, identify_formats))
                activity.heartbeat(start + len(chunk))
            journal_events = await asyncio.to_thread(
                load_file_events, JournalSplitter(layout.work).file_events(batch.index)
            )
            records = [
                self._file_record(params, examined, journal_events.get(examined.entry["p"], []), identify_formats)
                for examined in results
            ]
            await self.metadata.add_files(UUID(params.ingest_uuid), records)
            finished = datetime.now(UTC)
            await self.ingest.record_tasks(UUID(params.ingest_uuid), key, [
                TaskRecord(path=record.path, file_uuid=record.uuid, status=TaskStatus.completed,
                           message=bounded(f"sha256 {record.checksum}; format {record.puid or record.format_name}"
                                           + (f"; {examined.validation.message}"
                                              if examined.validation and examined.validation.events else "")),
                           started_at=job.started_at, finished_at=finished)
                for record, examined in zip(records, results, strict=True)
            ])
            await asyncio.to_thread(
                write_atomically, layout.batch_result(batch.index),
                (json.dumps({"p": r.entry["p"], "sha256": r.digest}) + "\n" for r in results),
            )
            job.files_done = len(entries)
        return BatchResult(index=batch.index, files=len(entries), bytes=sum(e["s"] for e in entries))

    def _file_record(self, params: IngestParams, examined: Examined, journal_events: list[dict[str, Any]],
                     identified_formats: bool) -> FileRecord:
        entry, digest, ident = examined.entry, examined.digest, examined.ident
        relative: str = entry["p"]
        file_uuid = derived_id(params.ingest_uuid, "file", relative)
        agents = self.agents(params)
        now = datetime.now(UTC)

        def event(kind: str, detail: str, outcome: str, note: str) -> EventRecord:
            return EventRecord(uuid=derived_id(file_uuid, kind), type=kind, datetime=now, detail=detail,
                               outcome=outcome, outcome_note=note, agents=agents)

        identified = ident.puid is not None
        identification = [
            event("format identification", f'program="Siegfried"; version="{siegfried_version()}"',
                  "Positive" if identified else "Not identified", ident.puid or "No Matching Format"),
        ] if identified_formats else []
        return FileRecord(
            uuid=file_uuid,
            path=relative,
            original_name=f"%transferDirectory%{relative}",
            size=entry["s"],
            checksum_type="sha256",
            checksum=digest,
            format_name=ident.format_name,
            format_version=ident.format_version,
            puid=ident.puid,
            format_basis=ident.basis,
            modified_at=datetime.fromtimestamp(entry["m"], UTC),
            events=[
                event("ingestion", "", "", ""),
                event("message digest calculation", 'program="python"; module="hashlib.sha256()"', "", digest),
                *identification,
                *(EventRecord(uuid=derived_id(file_uuid, spec.type, index), type=spec.type, datetime=spec.at,
                              detail=spec.detail, outcome=spec.outcome, outcome_note=spec.outcome_note,
                              agents=agents)
                  for index, spec in enumerate(examined.validation.events if examined.validation else ())),
                *(self._journal_event(params, record, agents) for record in journal_events),
            ],
        )

    def _journal_event(self, params: IngestParams, record: dict[str, Any],
                       agents: list[AgentRecord]) -> EventRecord:
        """An event intake performed, with an identity fixed by its place in the journal."""
        return EventRecord(
            uuid=derived_id(params.ingest_uuid, "journal", record["line"]),
            type=record["type"],
            datetime=datetime.fromisoformat(record["datetime"]),
            detail=record.get("detail") or "",
            outcome=record.get("outcome") or "",
            outcome_note=record.get("outcome_note") or "",
            agents=agents,
        )

    @activity.defn(name="record_transfer_metadata")
    async def record_transfer_metadata(self, params: IngestParams, inventory: Inventory) -> int:
        """Record what intake learned: package events, descriptive metadata, rights, identifiers, empty
        directories, and the transfer's own `mets_structmap.xml` and `premis.xml`. Every call is idempotent."""
        layout = self.layout(params)
        splitter = JournalSplitter(layout.work)
        package_uuid = UUID(params.ingest_uuid)
        recorded = 0
        async with self.job(params, "transfer-metadata", "Record transfer metadata", "Process metadata"):
            if splitter.package_events.exists():
                agents = self.agents(params)
                events = [
                    ObjectEventRecord(**self._journal_event(params, record, agents).model_dump(), object_uuid=None)
                    for record in await asyncio.to_thread(_journal_records, splitter.package_events)
                ]
                await self.metadata.add_events(package_uuid, events)
                recorded += len(events)
            by_kind: dict[str, list[dict[str, Any]]] = {}
            if splitter.records.exists():
                for record in await asyncio.to_thread(_journal_records, splitter.records):
                    by_kind.setdefault(record["record"], []).append(record)
            forwarders = {
                "dublin_core": lambda rs: self.metadata.add_descriptive_metadata(package_uuid, rs),
                "custom_metadata": lambda rs: self.metadata.add_descriptive_metadata(package_uuid, rs, kind="custom"),
                "rights": lambda rs: self.metadata.add_rights(package_uuid, rs),
                "identifiers": lambda rs: self.metadata.add_identifiers(package_uuid, rs),
                "empty_directory": lambda rs: self.metadata.add_directories(package_uuid, [r["path"] for r in rs]),
            }
            for kind, forward in forwarders.items():
                if by_kind.get(kind):
                    await forward(by_kind[kind])
                    recorded += len(by_kind[kind])
            metadata_dir = layout.data / "objects" / "metadata" / "transfers" / transfer_label(params)
            structmap = metadata_dir / "mets_structmap.xml"
            if structmap.is_file():
                await self.metadata.put_custom_structmap(package_uuid, structmap.read_text(encoding="utf-8"))
            premis = metadata_dir / "premis.xml"
            if premis.is_file():
                await self.metadata.import_transfer_premis(package_uuid, premis)
        return recorded

    # -- bag ---------------------------------------------------------------------------------------------------

    @activity.defn(name="build_bag")
    async def build_bag(self, params: IngestParams, inventory: Inventory) -> None:
        """METS from the metadata service, then manifests from the digests the batches computed."""
        layout = self.layout(params)
        async with self.job(params, "bag", "Generate METS and prepare AIP", "Prepare AIP"):
            partial = layout.mets.with_name(layout.mets.name + ".part")
            await self.metadata.download_mets(UUID(params.ingest_uuid), partial)
            partial.replace(layout.mets)
            activity.heartbeat("mets")
            await asyncio.to_thread(self._write_bag, params, inventory, layout)

    def _write_bag(self, params: IngestParams, inventory: Inventory, layout: SipLayout) -> None:
        import bagit

        extra = [layout.mets, *sorted(p for p in (layout.data / "logs").rglob("*") if p.is_file())]
        extra_digests = [(p.relative_to(layout.bag).as_posix(), sha256_file(p), p.stat().st_size) for p in extra]

        def manifest_lines() -> Any:
            for batch in inventory.batches:
                with layout.batch_result(batch.index).open(encoding="utf-8") as handle:
                    for line in handle:
                        row = json.loads(line)
                        yield f"{row['sha256']}  {encode_manifest_path('data/' + row['p'])}\n"
            for relative, digest, _size in extra_digests:
                yield f"{digest}  {encode_manifest_path(relative)}\n"

        manifest_digest = write_atomically(layout.bag / "manifest-sha256.txt", manifest_lines())
        bagit_digest = write_atomically(layout.bag / "bagit.txt", [BAGIT_TXT])
        info = bag_info_lines(
            software=f"Amber {AMBER_VERSION}",
            external_identifier=params.ingest_uuid,
            payload_bytes=inventory.total_bytes + sum(size for _, _, size in extra_digests),
            payload_files=inventory.file_count + len(extra_digests),
            bagging_date=date.today(),
        )
        info_digest = write_atomically(layout.bag / "bag-info.txt", info)
        write_atomically(layout.bag / "tagmanifest-sha256.txt", [
            f"{bagit_digest}  bagit.txt\n", f"{info_digest}  bag-info.txt\n",
            f"{manifest_digest}  manifest-sha256.txt\n",
        ])
        try:
            bagit.Bag(str(layout.bag)).validate(completeness_only=True)
        except bagit.BagError as exc:
            raise ApplicationError(f"the AIP bag is incomplete: {exc}", non_retryable=True) from exc

    # -- compress ----------------------------------------------------------------------------------------------

    @activity.defn(name="compress_aip")
    async def compress_aip(self, params: IngestParams, inventory: Inventory, algorithm: str,
                           level: str) -> PackedAip:
        layout = self.layout(params)
        async with self.job(params, "compress", "Compress AIP", "Prepare AIP"):
            if not layout.archive.exists():
                await self._seven_zip(layout, SEVEN_ZIP_METHODS[algorithm], int(level))
            digest = await _with_heartbeat(asyncio.to_thread(sha256_file, layout.archive))
        return PackedAip(path=str(layout.archive.relative_to(self.settings.processing_dir)),
                         size=layout.archive.stat().st_size, sha256=digest,
                         compression=f"7z-{SEVEN_ZIP_METHODS[algorithm]}")

    async def _seven_zip(self, layout: SipLayout, method: str, level: int) -> None:
        # One part file per attempt: an orphaned 7z of a dead worker can never write into this attempt's file.
        part = layout.base / f"{layout.aip_name}.7z.part-{activity.info().attempt}"
        part.unlink(missing_ok=True)
        command = [
            self.settings.seven_zip, "a", "-bd", "-t7z", "-y",
            f"-m0={method}", f"-mx={level}",
            "-mta=on", "-mtc=on", "-mtm=on", "-mmt=on", "-mf=off", str(part), layout.aip_name,
        ]
        process = await asyncio.create_subprocess_exec(
            *command, cwd=layout.base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_die_with_parent,
        )
        try:
            stdout, stderr = await _with_heartbeat(process.communicate())
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            part.unlink(missing_ok=True)
            raise
        if process.returncode != 0:
            part.unlink(missing_ok=True)
            output = (stderr or stdout).decode("utf-8", "replace")[-OUTPUT_LIMIT:]
            raise ApplicationError(f"7z exited with {process.returncode}: {output}")
        part.replace(layout.archive)

    # -- store -------------------------------------------------------------------------------------------------

    @activity.defn(name="store_aip")
    async def store_aip(self, params: IngestParams, inventory: Inventory, packed: PackedAip) -> StoredAip:
        """Hand the AIP to storage; storing the same package again is answered with the first copy.

        Where storage shares this worker's filesystem the file is moved in (no copy of a multi-GB AIP);
        otherwise, or when storage cannot reach the file, it is streamed over HTTP.
        """
        aip_uuid, name = UUID(params.ingest_uuid), sanitize_package_name(params.name)
        source = self.settings.processing_dir / packed.path
        async with self.job(params, "store", "Store AIP", "Store AIP"):
            stored = None
            if self.settings.aip_handover != AipHandover.upload:
                try:
                    stored = await _with_heartbeat(self.storage.move_aip_in(aip_uuid, name, packed.sha256, source))
                except ServiceError as exc:
                    if self.settings.aip_handover == AipHandover.move or exc.status is None or exc.status >= 500:
                        raise
                    log.info("storage cannot move %s in (%s); uploading it", source, exc)
            if stored is None:
                stored = await _with_heartbeat(self.storage.store_aip(aip_uuid, name, packed.sha256, source,
                                                                      extension="7z"))
        if stored.sha256 != packed.sha256:
            raise ApplicationError("storage holds a different package under this AIP's UUID", non_retryable=True)
        return StoredAip(location_uuid=str(stored.location_uuid), current_path=stored.current_path,
                         size=packed.size, sha256=packed.sha256, compression=packed.compression)

    @activity.defn(name="finish_ingest")
    async def finish_ingest(self, params: IngestParams, inventory: Inventory, stored: StoredAip) -> None:
        layout = self.layout(params)
        # Marks the package stored in the record (pointer file data) and queues it for search; indexing is
        # asynchronous there, so a slow or failed index never holds up or fails the ingest.
        await self.metadata.record_aip(UUID(params.ingest_uuid), AipPackageRecord(
            size=stored.size, checksum=stored.sha256, compression=stored.compression,
            program_version=await seven_zip_version(self.settings.seven_zip), path=stored.current_path,
        ))
        await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(
            status=IngestStatus.stored, current_job=None, aip_path=stored.current_path,
            aip_location_uuid=UUID(stored.location_uuid), aip_size=stored.size, aip_sha256=stored.sha256,
        ))
        # The stored copy was verified by its sha256 on arrival, so the working copy can go.
        await asyncio.to_thread(shutil.rmtree, layout.base, True)

    @activity.defn(name="await_decision")
    async def await_decision(self, params: IngestParams, point: str) -> None:
        ingest_uuid = UUID(params.ingest_uuid)
        decision = DecisionRead(point=point, question=decisions.question(point), choices=decisions.choices(point))
        await self.ingest.update_ingest(ingest_uuid, IngestUpdate(
            status=IngestStatus.awaiting_decision, current_job=f"Awaiting decision: {decision.question}",
            decision=decision,
        ))

    @activity.defn(name="reject_ingest")
    async def reject_ingest(self, params: IngestParams, reason: str) -> None:
        # The SIP stays in the processing folder: a rejection is an archivist's call, never a silent deletion.
        await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(
            status=IngestStatus.rejected, current_job=None, error=reason,
        ))

    @activity.defn(name="mark_ingest_failed")
    async def mark_ingest_failed(self, params: IngestParams, reason: str) -> None:
        await self.ingest.update_ingest(UUID(params.ingest_uuid), IngestUpdate(
            status=IngestStatus.failed, error=reason[:OUTPUT_LIMIT],
        ))


def _read_inventory(inventory: Path, batch: Batch) -> list[dict[str, Any]]:
    with inventory.open("rb") as handle:
        handle.seek(batch.offset)
        return [json.loads(handle.readline()) for _ in range(batch.count)]


@dataclass(frozen=True)
class Examined:
    """What one pass over a file found: its digest, its format and, where a validator exists, its validity."""

    entry: dict[str, Any]
    digest: str
    ident: Identification
    validation: FileOutcome | None


# One per worker process: validators keep state (jpylyzer runs in-process under a lock).
VALIDATION = ValidationService()


def _examine(data_dir: Path, entries: list[dict[str, Any]], identify_formats: bool) -> list[Examined]:
    results = []
    for entry in entries:
        path = data_dir / entry["p"]
        if not path.is_file():
            raise ApplicationError(f"{entry['p']} disappeared from the SIP", non_retryable=True)
        ident = identify(path, entry["s"]) if identify_formats else UNIDENTIFIED
        validation = VALIDATION.validate(path, ident.puid) if ident.puid else None
        results.append(Examined(entry, sha256_file(path), ident, validation))
    return results


async def _with_heartbeat(awaitable: Awaitable[T]) -> T:
    """Await `awaitable` while telling Temporal every few seconds that this worker is alive."""
    task = asyncio.ensure_future(awaitable)
    while True:
        done, _ = await asyncio.wait({task}, timeout=5)
        if done:
            return task.result()
        activity.heartbeat()


def _die_with_parent() -> None:
    """Children (7z) get SIGKILL when the worker dies, so a killed worker leaves no archiver running."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


def _journal_records(path: Path) -> list[dict[str, Any]]:
    return [record for _number, record in read_journal(path)]


async def seven_zip_version(binary: str) -> str:
    """The 7-Zip version, for the pointer file's creating application."""
    process = await asyncio.create_subprocess_exec(binary, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out, _ = await process.communicate()
    for line in out.decode("utf-8", "replace").splitlines():
        if line.strip().startswith("7-Zip"):
            return line.strip()[:255]
    return ""
