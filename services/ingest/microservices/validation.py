"""Validation by the format policy registry: every enabled `validation` rule for the file's PUID is run, and each
gives a `validation` event with Archivematica's lower-case outcome (`pass`/`partial pass`/`fail`) and the reason.

Which validators exist is data (`services/ingest/fpr/data/policy.json`, editable through the API); this module
knows none of them. Formats with no rule get no event (like Archivematica without an FPR validation rule). A rule
whose tool gave no answer (missing, timed out) records no event: that would be a verdict nobody reached.
"""

from __future__ import annotations

from pathlib import Path

from clients.ingest.fpr import RuleOutcome
from services.ingest.fpr.index import PolicyIndex
from services.ingest.fpr.runner import CommandRunner
from services.ingest.microservices.results import EventSpec, FileOutcome, Status, bounded

_RANK = {"pass": 0, "partial pass": 1, "fail": 2}


class ValidationService:
    """Thread-safe; one per worker. The rules come with each call (the worker reads them once per batch)."""

    def __init__(self, runner: CommandRunner | None = None) -> None:
        self.runner = runner or CommandRunner()

    def close(self) -> None:
        self.runner.close()

    def validate(self, path: Path, puid: str | None, rules: PolicyIndex) -> tuple[FileOutcome, list[RuleOutcome]]:
        """The file's outcome (its events, the worst verdict) and what each rule did, for the rule counters."""
        found = rules.rules_for("validation", puid)
        if not found:
            return FileOutcome(path, Status.SKIPPED, message=f"no validator for {puid or 'unidentified format'}"), []
        events: list[EventSpec] = []
        messages: list[str] = []
        counted: list[RuleOutcome] = []
        worst = "pass"
        for rule in found:
            result = self.runner.run(rule.command_spec, path)
            counted.append(RuleOutcome(rule=rule.uuid, success=result.success, tool_version=result.tool_version))
            if not result.ran or result.verdict is None:
                messages.append(f"{rule.command}: {result.reason}")
                continue
            note = f'format="{rule.format_name}"; result="{bounded(result.reason, 1000)}"'
            events.append(EventSpec("validation", result.event_detail, result.verdict, note))
            if _RANK[result.verdict] > _RANK[worst]:
                worst = result.verdict
            if result.verdict != "pass":
                messages.append(f"{rule.command}: {result.reason}")
        if not events:
            return FileOutcome(path, Status.ERROR, message=bounded("; ".join(messages), 600)), counted
        status = Status.FAILED if worst == "fail" else Status.PASSED
        message = bounded("; ".join(messages), 600) if messages else "valid"
        return FileOutcome(path, status, tuple(events), message), counted
