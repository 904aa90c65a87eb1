"""The format policy registry: shipped defaults taken in without overwriting edits, reads, edits, export/import,
and the outcome counters workers report.

A row Amber shipped carries the version of the defaults that wrote it; when a user changes it, it is marked
`modified` and later versions of the defaults leave it alone. Rows a user made have no shipped version.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from clients.ingest.fpr import (
    CommandRead,
    CommandUpdate,
    CommandWrite,
    FormatPolicy,
    FormatRead,
    FormatUpdate,
    ImportReport,
    PolicyCommand,
    PolicyFormat,
    PolicyRule,
    PolicyTool,
    ResolvedCommand,
    ResolvedRule,
    RuleOutcomes,
    RuleRead,
    RuleUpdate,
    RuleWrite,
    ToolRead,
    ToolUpdate,
)
from servicekit.db import utcnow
from servicekit.pagination import Page, PageParams
from servicekit.problems import Conflict, NotFound, Problem
from services.ingest.fpr.models import FprCommand, FprFormat, FprRule, FprTool
from services.ingest.fpr.placeholders import unknown_placeholders
from services.ingest.fpr.repository import FprRepository

# Shipped rules get the same UUID on every installation.
RULE_NAMESPACE = uuid.UUID("6d0c2f8e-1a53-4b8e-9a59-4f7e2a1c0b11")
Row = TypeVar("Row", FprFormat, FprTool, FprCommand, FprRule)
Read = TypeVar("Read", FormatRead, ToolRead, CommandRead, RuleRead)
Kind = Literal["formats", "tools", "commands", "rules"]


def shipped_policy() -> FormatPolicy:
    """Amber's default formats, tools, commands and rules (`data/policy.json`)."""
    text = resources.files("services.ingest.fpr").joinpath("data/policy.json").read_text("utf-8")
    return FormatPolicy.model_validate(json.loads(text))


def rule_uuid(purpose: str, puid: str, command: str) -> uuid.UUID:
    return uuid.uuid5(RULE_NAMESPACE, f"{purpose}|{puid}|{command}")


# --- mapping ---------------------------------------------------------------------------------------------------

def format_read(row: FprFormat) -> FormatRead:
    return FormatRead.model_validate(row, from_attributes=True)


def tool_read(row: FprTool) -> ToolRead:
    return ToolRead.model_validate(row, from_attributes=True)


def command_read(row: FprCommand) -> CommandRead:
    return CommandRead.model_validate(row, from_attributes=True)


def rule_read(row: FprRule) -> RuleRead:
    return RuleRead.model_validate(row, from_attributes=True)


def _values(item: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude=exclude)


def _apply(row: SQLModel, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _edit(row: Row, values: dict[str, Any]) -> bool:
    """A user's edit: a shipped row changed by hand is kept as it is by later upgrades of the defaults."""
    changed = _apply(row, values)
    if changed and row.shipped_version is not None:
        row.modified = True
    return changed


# --- reads and writes every kind shares -----------------------------------------------------------------------

def _page(rows: Sequence[Row], total: int, page: PageParams, read: Callable[[Row], Read]) -> Page[Read]:
    return Page.of([read(r) for r in rows], total, page)


async def _found(repo: FprRepository, model: type[Row], key: Any, what: str) -> Row:
    row = await repo.get(model, key)
    if row is None:
        raise NotFound(what, key)
    return row


async def _refuse_existing(repo: FprRepository, model: type[Row], key: str, what: str) -> None:
    if await repo.get(model, key) is not None:
        raise Conflict(f"{what} {key} exists; edit it with PATCH")


async def _added(repo: FprRepository, row: Row) -> Row:
    repo.add(row)
    await repo.flush()
    return row


async def _edited(repo: FprRepository, row: Row, values: dict[str, Any]) -> Row:
    _edit(row, values)
    await repo.flush()
    return row


# --- shipped defaults ------------------------------------------------------------------------------------------

async def upgrade_shipped(session: AsyncSession, policy: FormatPolicy | None = None) -> int:
    """Take in the shipped defaults when they are newer than what the database has; return rows written.

    New shipped rows are added; shipped rows nobody changed take the new values; a user's changed or own rows,
    are left as they are (shipped rules cannot be deleted, only disabled)."""
    policy = policy or shipped_policy()
    repo = FprRepository(session)
    state = await repo.state()
    if state.shipped_version >= policy.version:
        return 0
    written = 0
    rows = await _Rows.load(repo)
    for kind, model, key, values in _policy_rows(policy):
        row = rows.find(kind, key, values)
        if row is None:
            await rows.add(kind, model(**values, shipped_version=policy.version))
            written += 1
        elif row.shipped_version is not None and not row.modified:
            # Counters and the uuid of a rule stay; only its definition follows the new defaults.
            _apply(row, {k: v for k, v in values.items() if k != "uuid"})
            row.shipped_version = policy.version
            written += 1
    state.shipped_version = policy.version
    await repo.flush()
    return written


def _policy_rows(policy: FormatPolicy) -> list[tuple[Kind, Any, Any, dict[str, Any]]]:
    """Rows in dependency order (formats and tools before commands, commands before rules)."""
    rows: list[tuple[Kind, Any, Any, dict[str, Any]]] = []
    rows += [("formats", FprFormat, f.puid, _values(f)) for f in policy.formats]
    rows += [("tools", FprTool, t.name, _values(t)) for t in policy.tools]
    rows += [("commands", FprCommand, c.name, _values(c)) for c in policy.commands]
    for rule in policy.rules:
        values = _values(rule, {"uuid"})
        values["uuid"] = rule.uuid or rule_uuid(rule.purpose, rule.puid, rule.command)
        rows.append(("rules", FprRule, values["uuid"], values))
    return rows


class _Rows:
    """Every row of the registry, read once (a few hundred), found by key and rules also by purpose x PUID x
    command; rows added through it are found too."""

    MODELS: dict[Kind, Any] = {"formats": FprFormat, "tools": FprTool, "commands": FprCommand, "rules": FprRule}

    def __init__(self, repo: FprRepository) -> None:
        self.repo = repo
        self.by_key: dict[Kind, dict[Any, Any]] = {kind: {} for kind in self.MODELS}
        self.rules_by_use: dict[tuple[str, str, str], FprRule] = {}
        self._last_added: Kind | None = None

    @classmethod
    async def load(cls, repo: FprRepository) -> _Rows:
        rows = cls(repo)
        for kind, model in cls.MODELS.items():
            for row in await repo.all(model):
                rows._remember(kind, row)
        return rows

    def _remember(self, kind: Kind, row: Any) -> None:
        key = {"formats": "puid", "tools": "name", "commands": "name", "rules": "uuid"}[kind]
        self.by_key[kind][getattr(row, key)] = row
        if kind == "rules":
            self.rules_by_use[(row.purpose, row.puid, row.command)] = row

    def find(self, kind: Kind, key: Any, values: dict[str, Any]) -> Any:
        row = self.by_key[kind].get(key)
        if row is None and kind == "rules":
            row = self.rules_by_use.get((values["purpose"], values["puid"], values["command"]))
        return row

    async def add(self, kind: Kind, row: Any) -> None:
        # Without ORM relationships the unit of work does not order inserts by foreign key: each kind is written
        # before the first row of the next (rows come in dependency order) is added.
        if self._last_added not in (None, kind):
            await self.repo.flush()
        self._last_added = kind
        self.repo.add(row)
        self._remember(kind, row)


# --- formats ---------------------------------------------------------------------------------------------------

async def list_formats(session: AsyncSession, group: str | None, page: PageParams) -> Page[FormatRead]:
    rows, total = await FprRepository(session).formats_page(group, page.limit, page.offset)
    return _page(rows, total, page, format_read)


async def get_format(session: AsyncSession, puid: str) -> FormatRead:
    return format_read(await _found(FprRepository(session), FprFormat, puid, "Format"))


async def create_format(session: AsyncSession, body: PolicyFormat) -> FormatRead:
    repo = FprRepository(session)
    await _refuse_existing(repo, FprFormat, body.puid, "format")
    return format_read(await _added(repo, FprFormat(**_values(body))))


async def update_format(session: AsyncSession, puid: str, body: FormatUpdate) -> FormatRead:
    repo = FprRepository(session)
    row = await _found(repo, FprFormat, puid, "Format")
    return format_read(await _edited(repo, row, body.model_dump(mode="json", exclude_unset=True, exclude_none=True)))


# --- tools -----------------------------------------------------------------------------------------------------

async def list_tools(session: AsyncSession, page: PageParams) -> Page[ToolRead]:
    rows, total = await FprRepository(session).tools_page(page.limit, page.offset)
    return _page(rows, total, page, tool_read)


async def get_tool(session: AsyncSession, name: str) -> ToolRead:
    return tool_read(await _found(FprRepository(session), FprTool, name, "Tool"))


async def create_tool(session: AsyncSession, body: PolicyTool) -> ToolRead:
    repo = FprRepository(session)
    await _refuse_existing(repo, FprTool, body.name, "tool")
    _check_pattern(body.version_pattern, "version_pattern")
    return tool_read(await _added(repo, FprTool(**_values(body))))


async def update_tool(session: AsyncSession, name: str, body: ToolUpdate) -> ToolRead:
    repo = FprRepository(session)
    values = body.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    _check_pattern(values.get("version_pattern", ""), "version_pattern")
    row = await _found(repo, FprTool, name, "Tool")
    return tool_read(await _edited(repo, row, values))


# --- commands --------------------------------------------------------------------------------------------------

async def list_commands(session: AsyncSession, tool: str | None, page: PageParams) -> Page[CommandRead]:
    rows, total = await FprRepository(session).commands_page(tool, page.limit, page.offset)
    return _page(rows, total, page, command_read)


async def get_command(session: AsyncSession, name: str) -> CommandRead:
    return command_read(await _found(FprRepository(session), FprCommand, name, "Command"))


async def create_command(session: AsyncSession, body: PolicyCommand) -> CommandRead:
    repo = FprRepository(session)
    await _refuse_existing(repo, FprCommand, body.name, "command")
    await _check_command(repo, body.name, body)
    return command_read(await _added(repo, FprCommand(**_values(body))))


async def update_command(session: AsyncSession, name: str, body: CommandUpdate) -> CommandRead:
    repo = FprRepository(session)
    row = await _found(repo, FprCommand, name, "Command")
    values = body.model_dump(mode="json", exclude_unset=True)
    merged = CommandWrite.model_validate({**_values(command_read(row)), **values})
    await _check_command(repo, name, merged)
    return command_read(await _edited(repo, row, {k: v for k, v in _values(merged).items() if k in values}))


async def _check_command(repo: FprRepository, name: str, body: CommandWrite,
                         pending_tools: set[str] | frozenset[str] = frozenset(),
                         pending_commands: dict[str, CommandWrite] | None = None) -> None:
    problems = _command_problems(name, body)
    if body.tool not in pending_tools and await repo.get(FprTool, body.tool) is None:
        problems.append(f"tool {body.tool} does not exist")
    if body.verifier is not None:
        verifier = (pending_commands or {}).get(body.verifier) or await repo.get(FprCommand, body.verifier)
        if verifier is None:
            problems.append(f"verifier {body.verifier} does not exist")
        elif verifier.verdict is None:
            problems.append(f"verifier {body.verifier} is not a validation command (it has no verdict)")
    if problems:
        raise Problem(422, "Invalid command", f"{name}: " + "; ".join(problems))


def _command_problems(name: str, body: CommandWrite) -> list[str]:
    problems = [f"unknown placeholder {p}" for p in unknown_placeholders(body.argv)]
    if body.verifier == name:
        problems.append("a command cannot verify itself")
    for rule in body.verdict.rules if body.verdict else ():
        problems += _pattern_problems(rule.pattern, "verdict pattern")
    return problems


def _pattern_problems(pattern: str, what: str) -> list[str]:
    try:
        re.compile(pattern)
    except re.error as exc:
        return [f"{what} {pattern!r}: {exc}"]
    return []


def _check_pattern(pattern: str, what: str) -> None:
    problems = _pattern_problems(pattern, what)
    if problems:
        raise Problem(422, "Invalid regular expression", "; ".join(problems))


# --- rules -----------------------------------------------------------------------------------------------------

async def list_rules(session: AsyncSession, page: PageParams, *, purpose: str | None = None, puid: str | None = None,
                     command: str | None = None, enabled: bool | None = None) -> Page[RuleRead]:
    rows, total = await FprRepository(session).rules_page(
        purpose=purpose, puid=puid, command=command, enabled=enabled, limit=page.limit, offset=page.offset)
    return _page(rows, total, page, rule_read)


async def _rule(repo: FprRepository, rule: uuid.UUID) -> FprRule:
    return await _found(repo, FprRule, rule, "Format rule")


async def get_rule(session: AsyncSession, rule: uuid.UUID) -> RuleRead:
    return rule_read(await _rule(FprRepository(session), rule))


async def create_rule(session: AsyncSession, body: RuleWrite) -> RuleRead:
    repo = FprRepository(session)
    await _check_rule(repo, body.purpose, body.puid, body.command)
    if await repo.rule_by_key(body.purpose, body.puid, body.command) is not None:
        raise Conflict(f"a {body.purpose} rule for {body.puid} with {body.command} exists")
    return rule_read(await _added(repo, FprRule(uuid=uuid.uuid4(), **_values(body))))


async def update_rule(session: AsyncSession, rule: uuid.UUID, body: RuleUpdate) -> RuleRead:
    repo = FprRepository(session)
    row = await _rule(repo, rule)
    values = body.model_dump(exclude_unset=True, exclude_none=True)
    if "command" in values and values["command"] != row.command:
        await _check_rule(repo, row.purpose, row.puid, values["command"])
        if await repo.rule_by_key(row.purpose, row.puid, values["command"]) is not None:
            raise Conflict(f"a {row.purpose} rule for {row.puid} with {values['command']} exists")
    return rule_read(await _edited(repo, row, values))


async def delete_rule(session: AsyncSession, rule: uuid.UUID) -> None:
    repo = FprRepository(session)
    row = await _rule(repo, rule)
    if row.shipped_version is not None:
        raise Conflict("a rule Amber ships is disabled, not deleted (PATCH enabled=false)")
    await repo.delete(row)


async def _check_rule(repo: FprRepository, purpose: str, puid: str, command: str) -> None:
    problems = []
    if await repo.get(FprFormat, puid) is None:
        problems.append(f"format {puid} does not exist")
    found = await repo.get(FprCommand, command)
    if found is None:
        problems.append(f"command {command} does not exist")
    elif purpose == "validation" and found.verdict is None:
        problems.append(f"command {command} has no verdict, so it cannot validate")
    if problems:
        raise Problem(422, "Invalid rule", "; ".join(problems))


# --- what workers use ------------------------------------------------------------------------------------------

async def resolved_rules(session: AsyncSession, purpose: str | None) -> list[ResolvedRule]:
    """The enabled rules of a purpose (or all), each with its command, tool and verifier: one read per batch."""
    repo = FprRepository(session)
    tools = {t.name: tool_read(t) for t in await repo.all(FprTool)}
    commands = {c.name: command_read(c) for c in await repo.all(FprCommand)}
    formats = await repo.format_names()

    # Many rules share a command (a validator serves dozens of formats): each command is resolved once.
    resolved: dict[tuple[str, int], ResolvedCommand] = {}

    def resolve(name: str, depth: int = 0) -> ResolvedCommand:
        if (name, depth) not in resolved:
            command = commands[name]
            verifier = resolve(command.verifier, depth + 1) if command.verifier and depth < 3 else None
            resolved[name, depth] = ResolvedCommand(**command.model_dump(), tool_spec=tools[command.tool],
                                                    verifier_spec=verifier)
        return resolved[name, depth]

    return [
        ResolvedRule(**rule_read(r).model_dump(), command_spec=resolve(r.command), format_name=formats.get(r.puid, ""))
        for r in await repo.enabled_rules(purpose)
    ]


async def format_groups(session: AsyncSession) -> dict[str, str]:
    return await FprRepository(session).format_groups()


async def record_outcomes(session: AsyncSession, body: RuleOutcomes) -> int:
    """Workers report what their commands did, many at once; counters are incremented in the database."""
    repo = FprRepository(session)
    per_rule: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0])
    versions: dict[uuid.UUID, str] = {}
    for outcome in body.outcomes:
        per_rule[outcome.rule][0 if outcome.success else 1] += 1
        if outcome.tool_version:
            versions[outcome.rule] = outcome.tool_version
    now = utcnow()
    recorded = 0
    for rule, (successes, failures) in per_rule.items():
        recorded += (successes + failures) * await repo.count_outcomes(rule, successes, failures, now)
    for rule, version in versions.items():
        row = await repo.get(FprRule, rule)
        command = await repo.get(FprCommand, row.command) if row is not None else None
        if command is not None:
            await repo.record_tool_version(command.tool, version)
    return recorded


# --- export and import -----------------------------------------------------------------------------------------

async def export_policy(session: AsyncSession) -> FormatPolicy:
    repo = FprRepository(session)
    state = await repo.state()
    return FormatPolicy(
        version=state.shipped_version,
        formats=[PolicyFormat.model_validate(r, from_attributes=True) for r in await repo.all(FprFormat)],
        tools=[PolicyTool.model_validate(r, from_attributes=True) for r in await repo.all(FprTool)],
        commands=[PolicyCommand.model_validate(r, from_attributes=True) for r in await repo.all(FprCommand)],
        rules=[PolicyRule.model_validate(r, from_attributes=True) for r in await repo.all(FprRule)],
    )


async def import_policy(session: AsyncSession, policy: FormatPolicy) -> ImportReport:
    """Create or update every row of the document (by PUID, name, or a rule's uuid, else purpose x PUID x
    command); rows it does not mention stay. Importing the same document twice changes nothing the second time."""
    repo = FprRepository(session)
    await _check_document(repo, policy)
    created: dict[str, list[str]] = {kind: [] for kind in ("formats", "tools", "commands", "rules")}
    updated: dict[str, list[str]] = {kind: [] for kind in ("formats", "tools", "commands", "rules")}
    unchanged = 0
    rows = await _Rows.load(repo)
    for kind, model, key, values in _policy_rows(policy):
        row = rows.find(kind, key, values)
        label = str(key)
        if row is None:
            await rows.add(kind, model(**values))
            created[kind].append(label)
        elif _edit(row, {k: v for k, v in values.items() if k != "uuid"}):
            updated[kind].append(str(row.uuid) if kind == "rules" else label)
        else:
            unchanged += 1
    await repo.flush()
    return ImportReport(created=created, updated=updated, unchanged=unchanged)


async def _check_document(repo: FprRepository, policy: FormatPolicy) -> None:
    """Every reference must resolve within the document or the database, or nothing is imported."""
    problems: list[str] = []
    puids = {f.puid for f in policy.formats}
    tools = {t.name for t in policy.tools}
    commands: dict[str, CommandWrite] = {c.name: CommandWrite.model_validate(c.model_dump()) for c in policy.commands}

    async def command(name: str) -> CommandWrite | FprCommand | None:
        return commands.get(name) or await repo.get(FprCommand, name)

    for tool in policy.tools:
        problems += _pattern_problems(tool.version_pattern, f"tool {tool.name}: version_pattern")
    for item in policy.commands:
        problems += [f"command {item.name}: {p}" for p in _command_problems(item.name, item)]
        if item.tool not in tools and await repo.get(FprTool, item.tool) is None:
            problems.append(f"command {item.name}: tool {item.tool} does not exist")
        if item.verifier:
            verifier = await command(item.verifier)
            if verifier is None:
                problems.append(f"command {item.name}: verifier {item.verifier} does not exist")
            elif verifier.verdict is None:
                problems.append(f"command {item.name}: verifier {item.verifier} is not a validation command")
    for rule in policy.rules:
        where = f"rule {rule.purpose} {rule.puid} {rule.command}"
        if rule.puid not in puids and await repo.get(FprFormat, rule.puid) is None:
            problems.append(f"{where}: format {rule.puid} does not exist")
        found = await command(rule.command)
        if found is None:
            problems.append(f"{where}: command {rule.command} does not exist")
        elif rule.purpose == "validation" and found.verdict is None:
            problems.append(f"{where}: command {rule.command} has no verdict, so it cannot validate")
    if problems:
        raise Problem(422, "Invalid format policy", f"{len(problems)} problem(s); nothing was imported",
                      errors=[{"msg": p} for p in problems[:200]])
