"""Normalization of one original by the format policy registry: preservation copy, access copy, thumbnail and
OCR text, each by the rule for the file's format (or the fallback rule), run by the registry's command runner.

Runs in a worker thread and knows no tool: the rules and commands are data. Every output is made in a private
staging folder and moved to where Archivematica places it only once the runner has accepted it (identified,
verified), so a half-made derivative never appears in the SIP. What one original gave is returned as plain data
(`Normalized`), written by the activity to its batch ledger: a retried batch skips the originals it finds there.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from clients.ingest.fpr import ResolvedRule, RuleOutcome
from clients.ingest.normalization import NormalizationOutcomeRecord, NormalizationPurpose
from servicekit.ids import derived_id
from services.ingest.fpr.index import PolicyIndex
from services.ingest.fpr.runner import CommandResult, CommandRunner
from services.ingest.processing.identification import identify
from services.ingest.processing.params import Wanted

OCR_DIR = "objects/metadata/OCRfiles"
MANUAL_DIR = "objects/manualNormalization"
SERVICE_DIR = "objects/service"
THUMBNAILS_DIR = "thumbnails"
DIP_OBJECTS = "objects"


@dataclass(frozen=True)
class Original:
    path: str  # relative to the bag's data/
    uuid: UUID
    puid: str | None
    # purpose → (path relative to data/, uuid) of a manually normalized file for this original
    manual: dict[str, tuple[str, UUID]] = field(default_factory=dict)


def manual_files(data: Path) -> dict[tuple[str, str], str]:
    """Archivematica's manual normalization: `objects/manualNormalization/{preservation,access}/<path>.<ext>`
    stands for the original `objects/<path>.<any ext>`; so does a service file, `objects/service/<path>.<ext>`,
    the source of the access copy with "Normalize service files for access". (purpose or `service`, path without
    extension) → file under data/."""
    found: dict[tuple[str, str], str] = {}
    roots = {"preservation": data / MANUAL_DIR / "preservation", "access": data / MANUAL_DIR / "access",
             "service": data / SERVICE_DIR}
    for purpose, root in roots.items():
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    stem = path.relative_to(root).with_suffix("").as_posix()
                    found[(purpose, stem)] = path.relative_to(data).as_posix()
    return found


@dataclass(frozen=True)
class Places:
    """Where outputs go: the bag's data/ (preservation copies, thumbnails, OCR text), the DIP folder (access
    copies), and the staging folder outputs are made in."""

    data: Path
    dip: Path
    staging: Path


@dataclass
class Normalized:
    """What normalizing one original gave: a report row per purpose, and for the outputs kept in the AIP their
    paths (relative to data/), each with the event on the original that made it."""

    outcomes: list[NormalizationOutcomeRecord] = field(default_factory=list)
    # (purpose, path relative to data/, output uuid, rule's command, event detail, outcome, note, tool version)
    made: list[dict[str, Any]] = field(default_factory=list)
    # Events on the original for failures (no output): purpose, detail, reason.
    failed: list[dict[str, Any]] = field(default_factory=list)
    counted: list[RuleOutcome] = field(default_factory=list)
    # Every file written, relative to the ingest's base folder, so a rejected attempt can remove them all.
    written: list[str] = field(default_factory=list)


def purposes(wanted: Wanted) -> list[NormalizationPurpose]:
    chosen: list[tuple[bool, NormalizationPurpose]] = [
        (wanted.preservation, "preservation"), (wanted.access, "access"), (wanted.thumbnails, "thumbnail"),
        (wanted.transcription, "transcription"),
    ]
    return [purpose for asked, purpose in chosen if asked]


def _rules(index: PolicyIndex, purpose: NormalizationPurpose, puid: str | None,
           wanted: Wanted) -> tuple[list[ResolvedRule], bool]:
    found = index.rules_for(purpose, puid)
    if found:
        return found, False
    backup = _rules_fallback(index, purpose, puid, wanted)
    return backup, bool(backup)


def _target(purpose: NormalizationPurpose, original: Original, output_uuid: UUID,
            places: Places) -> tuple[Path, str]:
    """The folder an output goes to and its name without extension, as Archivematica names them."""
    source = Path(original.path)
    stem = source.stem
    if purpose == "preservation":
        return places.data / source.parent, f"{stem}-{output_uuid}"
    if purpose == "access":
        return places.dip / DIP_OBJECTS, f"{original.uuid}-{stem}"
    if purpose == "thumbnail":
        return places.data / THUMBNAILS_DIR, str(original.uuid)
    return places.data / OCR_DIR, f"{stem}-{original.uuid}"


def normalize_original(runner: CommandRunner, index: PolicyIndex, original: Original, wanted: Wanted,
                       places: Places) -> Normalized:
    done = Normalized()
    for purpose in purposes(wanted):
        if purpose in original.manual:
            _use_manual(purpose, original, places, done)
            continue
        if not wanted.rules and purpose in ("preservation", "access"):
            done.outcomes.append(NormalizationOutcomeRecord(
                path=original.path, file_uuid=original.uuid, purpose=purpose, outcome="no rule",
                reason=f"normalized manually, and objects/manualNormalization/{purpose}/ has no file for it"))
            continue
        source, puid = original.path, original.puid
        if purpose == "access" and wanted.service_files and "service" in original.manual:
            source, puid = _service_source(original, places, done)
        rules, fallback = _rules(index, purpose, puid, wanted)
        if not rules:
            if purpose != "transcription":  # OCR is only listed where a rule exists
                done.outcomes.append(NormalizationOutcomeRecord(
                    path=original.path, file_uuid=original.uuid, purpose=purpose, outcome="no rule",
                    reason=f"no {purpose} rule for {puid or 'an unidentified format'}"))
            continue
        record = _apply(runner, rules[0], fallback, purpose, original, wanted, places, done, source)
        for rule in rules[1:]:
            if record.outcome == "success":
                break
            # The format's next rule (by priority) is tried when one fails; the report keeps why.
            done.outcomes.remove(record)
            done.failed.pop()
            earlier = f"{record.command} failed ({record.reason})"
            record = _apply(runner, rule, fallback, purpose, original, wanted, places, done, source)
            record.reason = f"{earlier}; {record.reason}"[:2000]
        failed = record.outcome != "success" and not fallback
        backup = _rules_fallback(index, purpose, puid, wanted) if failed else []
        if backup:
            # The DIP keeps an access copy and a thumbnail for every original: when the format's own rule fails,
            # the default one (a copy, an icon) stands in, and the report says why.
            done.outcomes.remove(record)
            done.failed.pop()
            second = _apply(runner, backup[0], True, purpose, original, wanted, places, done, source)
            second.reason = f"{record.command} failed ({record.reason}); {second.reason}"[:2000]
    return done


def _service_source(original: Original, places: Places, done: Normalized) -> tuple[str, str | None]:
    """The service file the access copy is made from, identified here (it may sit in another batch), and its
    place in the record: fileGrp `service`, grouped with its original."""
    path, uuid = original.manual["service"]
    file = places.data / path
    done.made.append({"purpose": "service", "path": path, "uuid": str(uuid), "manual": True, "command": None,
                      "detail": "", "tool": "", "version": ""})
    return path, identify(file, file.stat().st_size).puid


def _use_manual(purpose: NormalizationPurpose, original: Original, places: Places, done: Normalized) -> None:
    """The archivist's own derivative: recorded as this original's (its fileGrp changes, the two are linked);
    an access one is also copied into the DIP under Archivematica's name."""
    path, uuid = original.manual[purpose]
    output = path
    if purpose == "access":
        folder, basename = _target(purpose, original, uuid, places)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{basename}{Path(path).suffix}"
        shutil.copyfile(places.data / path, target)
        done.written.append(str(target.relative_to(places.data.parent.parent)))
        output = (Path("DIP") / target.relative_to(places.dip)).as_posix()
    done.outcomes.append(NormalizationOutcomeRecord(
        path=original.path, file_uuid=original.uuid, purpose=purpose, outcome="manual", output=output,
        output_uuid=uuid, reason=f"manually normalized: {path}"))
    done.made.append({"purpose": purpose, "path": path, "uuid": str(uuid), "manual": True, "command": None,
                      "detail": 'program="manual normalization"', "tool": "", "version": ""})


def _rules_fallback(index: PolicyIndex, purpose: NormalizationPurpose, puid: str | None,
                    wanted: Wanted) -> list[ResolvedRule]:
    if purpose == "access" or (purpose == "thumbnail" and wanted.default_thumbnails):
        return index.fallback_for(purpose, puid)
    return []


def _apply(runner: CommandRunner, rule: ResolvedRule, fallback: bool, purpose: NormalizationPurpose,
           original: Original, wanted: Wanted, places: Places, done: Normalized,
           source: str | None = None) -> NormalizationOutcomeRecord:
    """Run one rule on the original (or on `source`, its service file); its report row (appended to `done`, and
    returned) says what came of it."""
    output_uuid = derived_id(original.uuid, purpose, wanted.attempt)
    folder, basename = _target(purpose, original, output_uuid, places)
    staging = places.staging / str(output_uuid)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        result = runner.run(rule.command_spec, places.data / (source or original.path), staging, basename=basename)
        done.counted.append(RuleOutcome(rule=rule.uuid, success=result.success, tool_version=result.tool_version))
        record = NormalizationOutcomeRecord(
            path=original.path, file_uuid=original.uuid, purpose=purpose, rule_uuid=rule.uuid,
            command=rule.command, fallback=fallback, outcome="success" if result.success else "failed",
            output_puid=result.output_puid, reason=result.reason[:2000],
            duration_seconds=result.duration_seconds,
        )
        if not result.success:
            done.outcomes.append(record)
            done.failed.append({"purpose": purpose, "detail": _detail(result, rule), "reason": result.reason})
            return record
        placed = _place(result, folder)
        base = places.data.parent.parent
        done.written.extend(str(p.relative_to(base)) for p in placed)
        shown = placed[0].relative_to(places.data) if placed[0].is_relative_to(places.data) else \
            Path("DIP") / placed[0].relative_to(places.dip)
        keeps_uuid = purpose in ("preservation", "transcription")
        record = record.model_copy(update={"output": shown.as_posix(),
                                           "output_uuid": output_uuid if keeps_uuid else None})
        done.outcomes.append(record)
        if keeps_uuid:
            for number, path in enumerate(placed):
                done.made.append({
                    "purpose": purpose, "path": path.relative_to(places.data).as_posix(),
                    "uuid": str(output_uuid if number == 0 else derived_id(output_uuid, path.name)),
                    "command": rule.command, "detail": _detail(result, rule), "tool": result.tool,
                    "version": result.tool_version,
                })
        return record
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _detail(result: CommandResult, rule: ResolvedRule) -> str:
    """Archivematica's normalization eventDetail names the FPR command; ours names the registry's."""
    return f'{result.event_detail}; command="{rule.command}"; rule="{rule.uuid}"'


def _place(result: CommandResult, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    placed = []
    for output in result.outputs:
        target = folder / output.name
        os.replace(output, target)
        placed.append(target)
    return placed
