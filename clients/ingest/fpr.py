"""The format policy registry (Archivematica's FPR), on the wire.

Formats (PRONOM PUIDs in format groups), tools, commands (how a tool is called: an argv template, never a shell
string), and rules (purpose x format → command). A command's argv knows placeholders, not tools:

| placeholder | replaced by |
|---|---|
| `{input}` | absolute path of the file acted on |
| `{output}` | `{output_dir}/{basename}<output_extension>` |
| `{output_dir}` | a fresh, private directory the command writes into |
| `{basename}` | the output's name without extension (by default the input's) |
| `{name}` | the input's file name |
| `{tmp}` | a private scratch directory, removed after the run |
| `{data}` | Amber's shipped data directory for commands (profiles, icons, PostScript prologues) |
| `{python}` | the Python interpreter Amber runs on (for the checks Amber ships as modules) |
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

Purpose = Literal[
    "preservation", "access", "thumbnail", "transcription", "validation", "characterization",
    "default_access", "default_thumbnail",
]
PURPOSES: tuple[Purpose, ...] = (
    "preservation", "access", "thumbnail", "transcription", "validation", "characterization",
    "default_access", "default_thumbnail",
)
FormatGroup = Literal[
    "image", "audio", "video", "text", "document", "presentation", "spreadsheet", "email", "archive",
    "raster-raw", "vector", "web", "database", "other",
]
Verdict = Literal["pass", "partial pass", "fail"]
Stream = Literal["stdout", "stderr", "any"]

PUID_PATTERN = r"^(x-)?fmt/[0-9]{1,6}$|^amber/[a-z0-9-]{1,50}$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
EXTENSION_PATTERN = r"^(\.[A-Za-z0-9.]{1,19}|\{ext\})$"
MAX_ARGV = 100
DEFAULT_EVENT_DETAIL = 'program="{tool}"; version="{version}"'


class Shipped(BaseModel):
    """Whether Amber shipped the row (and in which version of its defaults) and whether a user changed it since;
    an upgrade of the shipped defaults never overwrites a row a user changed."""

    shipped_version: int | None = Field(default=None, description="Version of Amber's defaults that wrote it")
    modified: bool = Field(default=False, description="Changed by a user since it was shipped")


class FormatWrite(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    version: str = Field(default="", max_length=100)
    mime: str = Field(default="", max_length=255)
    group: FormatGroup = "other"


class FormatUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    version: str | None = Field(default=None, max_length=100)
    mime: str | None = Field(default=None, max_length=255)
    group: FormatGroup | None = None


class FormatRead(FormatWrite, Shipped):
    puid: str


class ToolWrite(BaseModel):
    description: str = Field(default="", max_length=1000)
    version_argv: list[str] = Field(
        default_factory=list, max_length=MAX_ARGV,
        description="How to ask the tool its version (argv, no shell); empty when it has none to tell",
    )
    version_pattern: str = Field(
        default="", max_length=500,
        description="Regular expression on the version output; its first group is the version (else the first line)",
    )


class ToolUpdate(BaseModel):
    description: str | None = Field(default=None, max_length=1000)
    version_argv: list[str] | None = Field(default=None, max_length=MAX_ARGV)
    version_pattern: str | None = Field(default=None, max_length=500)


class ToolRead(ToolWrite, Shipped):
    name: str
    version: str | None = Field(default=None, description="The version workers last reported running")


class VerdictRule(BaseModel):
    """A regular expression on the command's output deciding (or lowering) the verdict; the worst verdict wins."""

    pattern: str = Field(min_length=1, max_length=500)
    stream: Stream = "any"
    when: Literal["matches", "missing"] = "matches"
    verdict: Verdict = "fail"
    reason: str = Field(default="", max_length=500, description="Said in the event; else the matching lines")


class VerdictSpec(BaseModel):
    """How a validation command's verdict is read: its exit code first, then the output rules."""

    pass_exit_codes: list[int] = Field(default_factory=lambda: [0])
    partial_exit_codes: list[int] = Field(default_factory=list)
    rules: list[VerdictRule] = Field(default_factory=list, max_length=50)


class CommandWrite(BaseModel):
    tool: str = Field(pattern=NAME_PATTERN)
    description: str = Field(default="", max_length=1000)
    argv: list[str] = Field(min_length=1, max_length=MAX_ARGV, description="argv template; see the placeholders")
    output_extension: str | None = Field(
        default=None, max_length=20, pattern=EXTENSION_PATTERN,
        description="The extension of the file the command makes (`{ext}`: the input's); none if it makes no file",
    )
    output_puids: list[str] = Field(
        default_factory=list, max_length=100,
        description="Siegfried must identify the output as one of these (empty: any identified format)",
    )
    stdout_is_output: bool = Field(
        default=False, description="The tool writes the output file to its standard output (dcraw -c)"
    )
    verifier: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="A validation command the output must pass"
    )
    event_detail: str = Field(
        default=DEFAULT_EVENT_DETAIL, max_length=1000,
        description="PREMIS eventDetail; `{tool}`, `{version}` and `{command}` are replaced",
    )
    timeout_seconds: float = Field(default=600.0, gt=0, le=86400)
    max_output_bytes: int = Field(default=50 * 1024**3, gt=0, description="The run is stopped beyond this")
    verdict: VerdictSpec | None = Field(default=None, description="For validation commands: how to read a verdict")


class CommandUpdate(BaseModel):
    tool: str | None = Field(default=None, pattern=NAME_PATTERN)
    description: str | None = Field(default=None, max_length=1000)
    argv: list[str] | None = Field(default=None, min_length=1, max_length=MAX_ARGV)
    output_extension: str | None = Field(default=None, max_length=20, pattern=EXTENSION_PATTERN)
    output_puids: list[str] | None = Field(default=None, max_length=100)
    stdout_is_output: bool | None = None
    verifier: str | None = Field(default=None, pattern=NAME_PATTERN)
    event_detail: str | None = Field(default=None, max_length=1000)
    timeout_seconds: float | None = Field(default=None, gt=0, le=86400)
    max_output_bytes: int | None = Field(default=None, gt=0)
    verdict: VerdictSpec | None = None


class CommandRead(CommandWrite, Shipped):
    name: str


class RuleWrite(BaseModel):
    purpose: Purpose
    puid: str = Field(pattern=PUID_PATTERN, description="The format the rule applies to")
    command: str = Field(pattern=NAME_PATTERN)
    enabled: bool = True
    priority: int = Field(
        default=100, ge=0, le=10_000,
        description="Among the enabled rules of one purpose and format, the lowest is tried first; the next one "
        "only when it fails (ties: by command name).",
    )


class RuleUpdate(BaseModel):
    command: str | None = Field(default=None, pattern=NAME_PATTERN)
    enabled: bool | None = None
    priority: int | None = Field(default=None, ge=0, le=10_000)


class RuleRead(RuleWrite, Shipped):
    uuid: UUID
    successes: int = 0
    failures: int = 0
    last_used_at: datetime | None = None


class PolicyRule(RuleWrite):
    """A rule in an export: counters stay behind, the uuid comes along so a round trip keeps it."""

    uuid: UUID | None = None


class PolicyFormat(FormatWrite):
    puid: str = Field(pattern=PUID_PATTERN)


class PolicyTool(ToolWrite):
    name: str = Field(pattern=NAME_PATTERN)


class PolicyCommand(CommandWrite):
    name: str = Field(pattern=NAME_PATTERN)


class FormatPolicy(BaseModel):
    """The whole registry as one document: what export answers and import takes (and what Amber ships)."""

    version: int = Field(default=0, ge=0, description="Version of the shipped defaults; 0 for a user's document")
    formats: list[PolicyFormat] = Field(default_factory=list)
    tools: list[PolicyTool] = Field(default_factory=list)
    commands: list[PolicyCommand] = Field(default_factory=list)
    rules: list[PolicyRule] = Field(default_factory=list)


class ImportReport(BaseModel):
    created: dict[str, list[str]] = Field(description="Per kind (formats, tools, commands, rules), the keys added")
    updated: dict[str, list[str]] = Field(description="Per kind, the keys whose values changed")
    unchanged: int


class ResolvedCommand(CommandRead):
    """A command with its tool and its verifier: all a worker needs to run it."""

    tool_spec: ToolRead
    verifier_spec: ResolvedCommand | None = None


class ResolvedRule(RuleRead):
    command_spec: ResolvedCommand
    format_name: str = ""


class RuleOutcome(BaseModel):
    rule: UUID
    success: bool
    tool_version: str | None = Field(default=None, max_length=100)


class RuleOutcomes(BaseModel):
    outcomes: list[RuleOutcome] = Field(max_length=10_000)


class OutcomesRecorded(BaseModel):
    recorded: int
