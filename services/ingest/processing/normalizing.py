"""The normalization activities: make derivatives batch by batch, then keep them (approve) or remove them (redo,
reject) as the archivist decides.

`normalize_batch` works over the originals of one processing batch (read from the batch's results, with their
PUIDs), several files at once on threads (the commands are separate processes, so the cores are used), and
appends what each original gave to the batch's ledger (`work/normalize-<attempt>/batch-<index>.jsonl`) as soon
as it is done: a retried batch skips every original already in its ledger, so no derivative is made twice. The
PREMIS record is written only on approval (`finish_normalization`), from the ledgers; a redo or a rejection
removes every file the attempt wrote, so nothing of it reaches the AIP.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from temporalio import activity

from clients.ingest.fpr import RuleOutcome
from clients.ingest.normalization import NormalizationOutcomeRecord
from clients.ingest.processing import ProcessingConfigFields
from clients.metadata import (
    AgentRecord,
    CharacteristicsRecord,
    EventRecord,
    FileRecord,
    FileRelationships,
    ObjectEventRecord,
    RelationshipRecord,
)
from servicekit.ids import derived_id
from services.ingest.fpr.index import PolicyIndex
from services.ingest.microservices.normalization import (
    MANUAL_DIR,
    SERVICE_DIR,
    Normalized,
    Original,
    Places,
    manual_files,
    normalize_original,
)
from services.ingest.processing.activities import IngestActivities, _in_thread, file_use, identification_detail
from services.ingest.processing.dip import write_dip_tar
from services.ingest.processing.examine import examine
from services.ingest.processing.hashing import sha256_file
from services.ingest.processing.layout import SipLayout
from services.ingest.processing.metrics import Lap
from services.ingest.processing.names import sanitize_package_name
from services.ingest.processing.params import Batch, FileOptions, IngestParams, Inventory, Wanted
from services.ingest.processing_configs.processing_mcp import render_processing_mcp

THREADS = max(1, len(os.sched_getaffinity(0)))  # the cores this worker may use
# Files per trip to a thread and per report to the ingest service: a cancellation waits for at most this many.
FILES_PER_HOP = max(16, THREADS * 8)
MANUAL_NORMALIZATION = f"{MANUAL_DIR}/"
DERIVATIVE_USE = {"preservation": "preservation", "transcription": "text/ocr"}
DERIVATIVE_OPTIONS = FileOptions(identify=True, scan=False, extract=False)


class NormalizationActivities:
    """Bound to the worker's IngestActivities: its clients, tools, job records and agents."""

    def __init__(self, host: IngestActivities) -> None:
        self.host = host
        # One pool for every batch this worker runs at once: the tools' processes stay within the cores however
        # many normalize_batch activities are in flight.
        self.pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="normalize")

    def all(self) -> list[Any]:
        return [self.normalize_batch, self.finish_normalization, self.store_dip]

    @activity.defn(name="normalize_batch")
    async def normalize_batch(self, params: IngestParams, batch: Batch, wanted: Wanted) -> int:
        host = self.host
        layout = host.layout(params)
        ledgers = layout.normalization_ledgers(wanted.attempt)
        ledger = ledgers / f"batch-{batch.index:06d}.jsonl"
        finished = ledger.with_suffix(".done")
        key = f"normalize-{wanted.attempt:02d}-{batch.index:06d}"
        name = f"Normalize (batch {batch.index + 1}{f', attempt {wanted.attempt}' if wanted.attempt > 1 else ''})"
        originals = await asyncio.to_thread(_originals, layout, params, batch, wanted)
        async with host.job(params, key, name, "Normalize", files_total=len(originals)) as job:
            if finished.exists():
                job.files_done = len(originals)
                return len(originals)
            ledgers.mkdir(parents=True, exist_ok=True)
            done = await asyncio.to_thread(_done_paths, ledger)
            todo = [o for o in originals if o.path not in done]
            # Read once per batch: a rule edited through the API holds from the next batch (or the redo) on.
            rules = PolicyIndex(await host.ingest.resolved_format_rules(), await host.ingest.format_groups())
            places = Places(layout.data, layout.dip, layout.work / f"staging-{wanted.attempt:02d}")
            agents = host.agents(params)
            job.files_done = len(originals) - len(todo)
            for start in range(0, len(todo), FILES_PER_HOP):
                chunk = todo[start:start + FILES_PER_HOP]
                lines = await _in_thread(self._normalize_chunk, layout, chunk, wanted, rules, places, agents)
                await asyncio.to_thread(_append, ledger, lines)
                outcomes = [NormalizationOutcomeRecord.model_validate(o) for line in lines for o in line["outcomes"]]
                if outcomes:
                    await host.ingest.record_normalization_outcomes(UUID(params.ingest_uuid), wanted.attempt,
                                                                    outcomes)
                await host._count_rule_outcomes([RuleOutcome.model_validate(r) for line in lines
                                                 for r in line["counted"]])
                job.files_done += len(chunk)
                activity.heartbeat(job.files_done)
            await asyncio.to_thread(finished.write_text, "done\n")
        return len(originals)

    def _normalize_chunk(self, layout: SipLayout, chunk: list[Original], wanted: Wanted, rules: PolicyIndex,
                         places: Places, agents: list[AgentRecord]) -> list[dict[str, Any]]:
        runner = self.host.tools.validation.runner

        metrics = self.host.metrics

        def one(original: Original) -> dict[str, Any]:
            lap = Lap(metrics)
            # The derivatives are examined on the pool's thread too: that is as much work as making them.
            result = normalize_original(runner, rules, original, wanted, places)
            lap.done("normalization", failed=bool(result.failed))
            return self._ledger_line(layout, original, result, wanted, rules, agents)

        return list(self.pool.map(one, chunk))

    def _ledger_line(self, layout: SipLayout, original: Original, result: Normalized, wanted: Wanted,
                     rules: PolicyIndex, agents: list[AgentRecord]) -> dict[str, Any]:
        """One original's results in the form the approval records them: derivative file records, events and
        relationships on the original, manifest lines for what the bag gained."""
        now = datetime.now(UTC)
        events: list[ObjectEventRecord] = []
        derivatives: list[FileRecord] = []
        sources: list[RelationshipRecord] = []
        for failure in result.failed:
            kind = "transcription" if failure["purpose"] == "transcription" else "normalization"
            if failure["purpose"] in ("access", "thumbnail"):
                continue  # those outputs are not in the AIP; the report says what went wrong
            events.append(ObjectEventRecord(
                uuid=derived_id(original.uuid, kind, failure["purpose"], wanted.attempt), type=kind, datetime=now,
                detail=failure["detail"], outcome="not transcribed" if kind == "transcription" else "failure",
                outcome_note=str(failure["reason"])[:8000], agents=agents, object_uuid=original.uuid,
            ))
        updates: list[FileRelationships] = []
        for made in result.made:
            if made["purpose"] == "service":
                # A service file is grouped with its original (fileGrp `service`); no event: nothing was made.
                updates.append(FileRelationships(file_uuid=UUID(made["uuid"]), use="service", relationships=[
                    RelationshipRecord(subtype="has source", related_object_uuid=original.uuid)]))
                continue
            kind = "transcription" if made["purpose"] == "transcription" else "normalization"
            event_uuid = derived_id(original.uuid, kind, made["purpose"], wanted.attempt, made["path"])
            events.append(ObjectEventRecord(
                uuid=event_uuid, type=kind, datetime=now, detail=made["detail"],
                outcome="transcribed" if kind == "transcription" else "success",
                outcome_note=f"%SIPDirectory%{made['path']}", agents=agents, object_uuid=original.uuid,
            ))
            if made.get("manual"):
                # Recorded already (it was in the transfer): it becomes this original's derivative.
                manual_uuid = UUID(made["uuid"])
                sources.append(RelationshipRecord(subtype="is source of", related_object_uuid=manual_uuid,
                                                  related_event_uuid=event_uuid))
                updates.append(FileRelationships(file_uuid=manual_uuid, use=made["purpose"], relationships=[
                    RelationshipRecord(subtype="has source", related_object_uuid=original.uuid,
                                       related_event_uuid=event_uuid)]))
                continue
            record = self._derivative(layout, made, original, event_uuid, rules, agents)
            derivatives.append(record)
            if made["purpose"] == "preservation":
                sources.append(RelationshipRecord(subtype="is source of", related_object_uuid=record.uuid,
                                                  related_event_uuid=event_uuid))
        manifest = [{"p": d.path, "sha256": d.checksum, "s": d.size} for d in derivatives]
        for written in result.written:
            path = layout.base / written
            relative = path.relative_to(layout.data).as_posix() if path.is_relative_to(layout.data) else None
            if relative is not None and relative.startswith("thumbnails/"):
                manifest.append({"p": relative, "sha256": sha256_file(path), "s": path.stat().st_size})
        return {
            "p": original.path, "u": str(original.uuid),
            "outcomes": [o.model_dump(mode="json") for o in result.outcomes],
            "counted": [c.model_dump(mode="json") for c in result.counted],
            "events": [e.model_dump(mode="json") for e in events],
            "derivatives": [d.model_dump(mode="json") for d in derivatives],
            "relationships": [r.model_dump(mode="json") for r in sources],
            "updates": [u.model_dump(mode="json") for u in updates],
            "manifest": manifest, "written": result.written,
        }

    def _derivative(self, layout: SipLayout, made: dict[str, Any], original: Original, event_uuid: UUID,
                    rules: PolicyIndex, agents: list[AgentRecord]) -> FileRecord:
        """A derivative examined like any file of the AIP: checksum, identification, validation,
        characterization; with its `creation` event and its relationship to the original."""
        path = layout.data / made["path"]
        stat = path.stat()
        entry = {"p": made["path"], "s": stat.st_size, "m": stat.st_mtime}
        examined = examine(self.host.tools, layout.data, [entry], DERIVATIVE_OPTIONS, False, rules)[0]
        uuid = UUID(made["uuid"])
        now = datetime.now(UTC)
        ident = examined.ident

        def event(kind: str, detail: str, outcome: str, note: str, *key: object) -> EventRecord:
            return EventRecord(uuid=derived_id(uuid, kind, *key), type=kind, datetime=now, detail=detail,
                               outcome=outcome, outcome_note=note, agents=agents)

        validations = examined.validation.events if examined.validation is not None else ()
        relationships = []
        if made["purpose"] == "preservation":
            relationships.append(RelationshipRecord(subtype="has source", related_object_uuid=original.uuid,
                                                    related_event_uuid=event_uuid))
        return FileRecord(
            uuid=uuid, path=made["path"], original_name=f"%SIPDirectory%{made['path']}", size=stat.st_size,
            checksum=examined.digest, format_name=ident.format_name, format_version=ident.format_version,
            puid=ident.puid, format_basis=ident.basis or ident.warning,
            modified_at=datetime.fromtimestamp(stat.st_mtime, UTC), use=DERIVATIVE_USE[made["purpose"]],
            creating_application=made["tool"], creating_application_version=made["version"][:255],
            relationships=relationships,
            characteristics=[CharacteristicsRecord(tool=o.tool, version=o.version, xml=o.text, truncated=o.truncated)
                             for o in examined.characterization.outputs],
            events=[
                event("creation", "", "", ""),
                event("message digest calculation", 'program="python"; module="hashlib.sha256()"', "",
                      examined.digest),
                event("format identification", identification_detail("Siegfried"),
                      "Positive" if ident.puid else "Not identified", ident.puid or "No Matching Format"),
                *(event(spec.type, spec.detail, spec.outcome, spec.outcome_note, index)
                  for index, spec in enumerate(validations)),
            ],
        )

    @activity.defn(name="finish_normalization")
    async def finish_normalization(self, params: IngestParams, inventory: Inventory, attempt: int,
                                   decision: str) -> int:
        """Approve: record the derivatives and the events and relationships of their originals, and the
        normalization log. Redo or Reject: remove everything the attempt wrote. Safe to run again."""
        host = self.host
        layout = host.layout(params)
        package = UUID(params.ingest_uuid)
        ledgers = sorted(layout.normalization_ledgers(attempt).glob("batch-*.jsonl"))
        title = {"Approve": "Record normalization", "Redo": "Redo normalization",
                 "Reject": "Reject normalization"}[decision]
        files = 0
        async with host.job(params, f"normalize-{attempt:02d}-{decision.lower()}", title, "Normalize"):
            # A batch's ledger at a time: memory stays bounded by the batch size, whatever the package's.
            log, manifest = layout.work / "normalization.log.part", layout.normalization_manifest
            partial = manifest.with_name(manifest.name + ".part")
            for path in (log, partial):
                path.unlink(missing_ok=True)
            for ledger in ledgers:
                lines = await asyncio.to_thread(_ledger_lines, ledger)
                files += len(lines)
                if decision == "Approve":
                    await self._record(package, lines)
                    await asyncio.to_thread(_append_log_and_manifest, log, partial, lines)
                else:
                    await _in_thread(_remove_written, layout, lines)
                activity.heartbeat(files)
            if decision == "Approve":
                target = layout.data / "logs" / "normalization.log"
                target.parent.mkdir(parents=True, exist_ok=True)
                for path in (log, partial):
                    path.touch()
                os.replace(log, target)
                os.replace(partial, manifest)
            else:
                shutil.rmtree(layout.normalization_ledgers(attempt), ignore_errors=True)
                shutil.rmtree(layout.work / f"staging-{attempt:02d}", ignore_errors=True)
            await host.ingest.record_normalization_decision(package, attempt, decision)  # type: ignore[arg-type]
        return files

    @activity.defn(name="store_dip")
    async def store_dip(self, params: IngestParams, inventory: Inventory, decisions: dict[str, str]) -> str:
        """Assemble the DIP and store it through the storage service (a new UUID, linked to its AIP); a second
        store of the same DIP is answered with the first, and the tar of an earlier attempt is reused."""
        host = self.host
        layout = host.layout(params)
        dip_uuid = derived_id(params.ingest_uuid, "dip")
        target = layout.base / f"{layout.aip_name}.dip.tar"
        async with host.job(params, "dip", "Store DIP", "Upload DIP"):
            if not target.exists():
                mcp = render_processing_mcp(ProcessingConfigFields.model_validate(
                    {**ProcessingConfigFields().model_dump(), **decisions}))
                await _in_thread(write_dip_tar, layout, layout.aip_name, mcp, target)
            digest = await _in_thread(sha256_file, target)
            stored = await host.storage.store_dip(dip_uuid, sanitize_package_name(params.name), digest, target,
                                                  aip_uuid=UUID(params.ingest_uuid), extension="tar")
        return str(stored.uuid)

    async def _record(self, package: UUID, lines: list[dict[str, Any]]) -> None:
        metadata = self.host.metadata
        derivatives = [FileRecord.model_validate(d) for line in lines for d in line["derivatives"]]
        if derivatives:
            await metadata.add_files(package, derivatives)
        events = [ObjectEventRecord.model_validate(e) for line in lines for e in line["events"]]
        if events:
            await metadata.add_events(package, events)
        sources = [FileRelationships(file_uuid=UUID(line["u"]), relationships=line["relationships"])
                   for line in lines if line["relationships"]]
        sources += [FileRelationships.model_validate(u) for line in lines for u in line.get("updates", ())]
        if sources:
            await metadata.add_relationships(package, sources)


def _originals(layout: SipLayout, params: IngestParams, batch: Batch, wanted: Wanted) -> list[Original]:
    """The batch's originals (not metadata, submission documentation or manually normalized files), as the
    batch's results list them (files removed from the SIP are not there)."""
    found = []
    manuals = manual_files(layout.data)
    with layout.batch_result(batch.index).open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            path = row["p"]
            if file_use(path) != "original" or path.startswith(MANUAL_NORMALIZATION):
                continue
            if wanted.service_files and path.startswith(f"{SERVICE_DIR}/"):
                continue
            stem = Path(path).relative_to("objects").with_suffix("").as_posix()
            manual = {purpose: (made, derived_id(params.ingest_uuid, "file", made))
                      for (purpose, key), made in manuals.items() if key == stem}
            found.append(Original(path, derived_id(params.ingest_uuid, "file", path), row.get("f"), manual))
    return found


def _done_paths(ledger: Path) -> set[str]:
    """The originals a ledger holds; a last line cut by a crash is cut off, so that appending goes on cleanly and
    that original is redone."""
    if not ledger.exists():
        return set()
    with ledger.open("rb+") as handle:
        content = handle.read()
        complete = content.rfind(b"\n") + 1
        if complete != len(content):
            handle.truncate(complete)
    return {json.loads(line)["p"] for line in content[:complete].decode("utf-8").splitlines()}


def _append(ledger: Path, lines: list[dict[str, Any]]) -> None:
    with ledger.open("a", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _ledger_lines(ledger: Path) -> list[dict[str, Any]]:
    lines: dict[str, dict[str, Any]] = {}
    with ledger.open(encoding="utf-8") as handle:
        for text in handle:
            if text.endswith("\n"):
                line = json.loads(text)
                lines[line["p"]] = line  # a file redone after a crash: its last line counts
    return list(lines.values())


def _remove_written(layout: SipLayout, lines: list[dict[str, Any]]) -> None:
    for line in lines:
        for written in line["written"]:
            (layout.base / written).unlink(missing_ok=True)


def _append_log_and_manifest(log: Path, manifest: Path, lines: list[dict[str, Any]]) -> None:
    """The normalization log (one line per file and purpose, as in the report: path, purpose, outcome, command,
    output, reason) and the manifest lines of what the bag gained."""
    with log.open("a", encoding="utf-8") as out:
        for line in sorted(lines, key=lambda item: item["p"]):
            for o in line["outcomes"]:
                reason = " ".join((o.get("reason") or "").split())
                out.write(f"{o['path']}\t{o['purpose']}\t{o['outcome']}\t{o.get('command') or '-'}\t"
                          f"{o.get('output') or '-'}\t{reason}\n")
    with manifest.open("a", encoding="utf-8") as out:
        for line in lines:
            for entry in line["manifest"]:
                out.write(json.dumps(entry) + "\n")
