"""The rules a worker holds, looked up by purpose and PUID: built from what the ingest service answers (or, in
tests and tools, straight from a policy document)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from clients.ingest.fpr import FormatPolicy, ResolvedCommand, ResolvedRule, RuleRead, ToolRead
from services.ingest.fpr.service import rule_uuid

ANY_FORMAT = "amber/any"


def group_puid(group: str) -> str:
    """The pseudo-format the fallback rules of a format group (`default_thumbnail`) are attached to."""
    return f"amber/group-{group}"


class PolicyIndex:
    """`groups` (PUID → format group, from `IngestClient.format_groups`) is needed only for the fallbacks."""

    def __init__(self, rules: Iterable[ResolvedRule], groups: Mapping[str, str] | None = None) -> None:
        self._rules: dict[tuple[str, str], list[ResolvedRule]] = defaultdict(list)
        self.groups = dict(groups or {})
        for rule in rules:
            if rule.enabled:
                self._rules[(rule.purpose, rule.puid)].append(rule)
        for found in self._rules.values():
            found.sort(key=lambda rule: (rule.priority, rule.command))  # the order they are tried in

    def rules_for(self, purpose: str, puid: str | None) -> list[ResolvedRule]:
        return list(self._rules.get((purpose, puid or ""), ()))

    def fallback_for(self, purpose: str, puid: str | None) -> list[ResolvedRule]:
        """What applies when a file's format has no rule of `purpose`: `default_access` (a copy of the original)
        for access, `default_thumbnail` (the icon of the format's group, else the generic one) for thumbnails."""
        if purpose == "access":
            return self.rules_for("default_access", ANY_FORMAT)
        if purpose == "thumbnail":
            group = self.groups.get(puid or "", "other")
            return self.rules_for("default_thumbnail", group_puid(group)) or \
                self.rules_for("default_thumbnail", group_puid("other"))
        return []

    def __len__(self) -> int:
        return sum(len(rules) for rules in self._rules.values())


def resolve_policy(policy: FormatPolicy) -> list[ResolvedRule]:
    """Every rule of a document with its command, tool and verifier resolved (no database involved)."""
    tools = {t.name: ToolRead(**t.model_dump()) for t in policy.tools}
    commands = {c.name: c for c in policy.commands}
    formats = {f.puid: f.name for f in policy.formats}

    def resolve(name: str, depth: int = 0) -> ResolvedCommand:
        command = commands[name]
        verifier = resolve(command.verifier, depth + 1) if command.verifier and depth < 3 else None
        return ResolvedCommand(**command.model_dump(), tool_spec=tools[command.tool], verifier_spec=verifier)

    return [
        ResolvedRule(**RuleRead(**r.model_dump(exclude={"uuid"}),
                                uuid=r.uuid or rule_uuid(r.purpose, r.puid, r.command)).model_dump(),
                     command_spec=resolve(r.command), format_name=formats.get(r.puid, ""))
        for r in policy.rules
    ]
