"""HTTP operations on the format policy registry: reads for readers, changes for administrators, and two internal
operations for workers (the resolved rules they run, and the outcomes they report)."""

from __future__ import annotations

import re
import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query, status

from clients.ingest.fpr import (
    PUID_PATTERN,
    CommandRead,
    CommandUpdate,
    FormatPolicy,
    FormatRead,
    FormatUpdate,
    ImportReport,
    OutcomesRecorded,
    PolicyCommand,
    PolicyFormat,
    PolicyTool,
    Purpose,
    ResolvedRule,
    RuleOutcomes,
    RuleRead,
    RuleUpdate,
    RuleWrite,
    ToolRead,
    ToolUpdate,
)
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep
from servicekit.openapi import internal_operation
from servicekit.pagination import Page, PageDep
from servicekit.problems import Problem
from servicekit.roles import Role, role_operation
from services.ingest.fpr import service

TAGS: list[str | Enum] = ["format policy registry"]
formats_router = APIRouter(prefix="/formats", tags=TAGS)
tools_router = APIRouter(prefix="/format-tools", tags=TAGS)
commands_router = APIRouter(prefix="/format-commands", tags=TAGS)
rules_router = APIRouter(prefix="/format-rules", tags=TAGS)
policy_router = APIRouter(prefix="/format-policy", tags=TAGS)
READER = role_operation(Role.reader)
ADMIN = role_operation(Role.admin)


def _puid(puid: str) -> str:
    if not re.fullmatch(PUID_PATTERN, puid):
        raise Problem(404, "Not found", f"Format {puid} does not exist")
    return puid


@formats_router.get("", response_model=Page[FormatRead], summary="List formats", openapi_extra=READER)
async def list_formats(session: SessionDep, page: PageDep, caller: CallerDep,
                       group: Annotated[str | None, Query(max_length=40)] = None) -> Page[FormatRead]:
    return await service.list_formats(session, group, page)


@formats_router.post("", response_model=FormatRead, status_code=status.HTTP_201_CREATED, summary="Add a format",
                     openapi_extra=ADMIN)
async def create_format(body: PolicyFormat, session: SessionDep, caller: CallerDep) -> FormatRead:
    return await service.create_format(session, body)


@formats_router.get("/{puid:path}", response_model=FormatRead, summary="Get a format (by PRONOM PUID)",
                    openapi_extra=READER)
async def get_format(puid: str, session: SessionDep, caller: CallerDep) -> FormatRead:
    return await service.get_format(session, _puid(puid))


@formats_router.patch("/{puid:path}", response_model=FormatRead, summary="Edit a format", openapi_extra=ADMIN)
async def update_format(puid: str, body: FormatUpdate, session: SessionDep, caller: CallerDep) -> FormatRead:
    return await service.update_format(session, _puid(puid), body)


@tools_router.get("", response_model=Page[ToolRead], summary="List tools", openapi_extra=READER)
async def list_format_tools(session: SessionDep, page: PageDep, caller: CallerDep) -> Page[ToolRead]:
    return await service.list_tools(session, page)


@tools_router.post("", response_model=ToolRead, status_code=status.HTTP_201_CREATED, summary="Add a tool",
                   openapi_extra=ADMIN)
async def create_format_tool(body: PolicyTool, session: SessionDep, caller: CallerDep) -> ToolRead:
    return await service.create_tool(session, body)


@tools_router.get("/{name}", response_model=ToolRead, summary="Get a tool", openapi_extra=READER)
async def get_format_tool(name: str, session: SessionDep, caller: CallerDep) -> ToolRead:
    return await service.get_tool(session, name)


@tools_router.patch("/{name}", response_model=ToolRead, summary="Edit a tool", openapi_extra=ADMIN)
async def update_format_tool(name: str, body: ToolUpdate, session: SessionDep, caller: CallerDep) -> ToolRead:
    return await service.update_tool(session, name, body)


@commands_router.get("", response_model=Page[CommandRead], summary="List commands", openapi_extra=READER)
async def list_format_commands(session: SessionDep, page: PageDep, caller: CallerDep,
                               tool: Annotated[str | None, Query(max_length=100)] = None) -> Page[CommandRead]:
    return await service.list_commands(session, tool, page)


@commands_router.post("", response_model=CommandRead, status_code=status.HTTP_201_CREATED, summary="Add a command",
                      openapi_extra=ADMIN)
async def create_format_command(body: PolicyCommand, session: SessionDep, caller: CallerDep) -> CommandRead:
    return await service.create_command(session, body)


@commands_router.get("/{name}", response_model=CommandRead, summary="Get a command", openapi_extra=READER)
async def get_format_command(name: str, session: SessionDep, caller: CallerDep) -> CommandRead:
    return await service.get_command(session, name)


@commands_router.patch("/{name}", response_model=CommandRead, summary="Edit a command", openapi_extra=ADMIN)
async def update_format_command(name: str, body: CommandUpdate, session: SessionDep,
                                caller: CallerDep) -> CommandRead:
    return await service.update_command(session, name, body)


@rules_router.get("", response_model=Page[RuleRead], summary="List format rules", openapi_extra=READER)
async def list_format_rules(
    session: SessionDep, page: PageDep, caller: CallerDep,
    purpose: Purpose | None = None,
    puid: Annotated[str | None, Query(pattern=PUID_PATTERN)] = None,
    command: Annotated[str | None, Query(max_length=100)] = None,
    enabled: bool | None = None,
) -> Page[RuleRead]:
    return await service.list_rules(session, page, purpose=purpose, puid=puid, command=command, enabled=enabled)


@rules_router.post("", response_model=RuleRead, status_code=status.HTTP_201_CREATED, summary="Add a format rule",
                   openapi_extra=ADMIN)
async def create_format_rule(body: RuleWrite, session: SessionDep, caller: CallerDep) -> RuleRead:
    return await service.create_rule(session, body)


@rules_router.get("/{rule_uuid}", response_model=RuleRead, summary="Get a format rule", openapi_extra=READER)
async def get_format_rule(rule_uuid: uuid.UUID, session: SessionDep, caller: CallerDep) -> RuleRead:
    return await service.get_rule(session, rule_uuid)


@rules_router.patch("/{rule_uuid}", response_model=RuleRead,
                    summary="Edit a format rule: enable or disable it, or point it at another command",
                    openapi_extra=ADMIN)
async def update_format_rule(rule_uuid: uuid.UUID, body: RuleUpdate, session: SessionDep,
                             caller: CallerDep) -> RuleRead:
    return await service.update_rule(session, rule_uuid, body)


@rules_router.delete("/{rule_uuid}", status_code=status.HTTP_204_NO_CONTENT,
                     summary="Delete a format rule a user made (shipped rules are disabled instead)",
                     openapi_extra=ADMIN)
async def delete_format_rule(rule_uuid: uuid.UUID, session: SessionDep, caller: CallerDep) -> None:
    await service.delete_rule(session, rule_uuid)


@policy_router.get("", response_model=FormatPolicy, summary="Export the format policy registry as JSON",
                   openapi_extra=READER)
async def export_format_policy(session: SessionDep, caller: CallerDep) -> FormatPolicy:
    return await service.export_policy(session)


@policy_router.post("", response_model=ImportReport, summary="Import a format policy (JSON); reports what changed",
                    openapi_extra=ADMIN)
async def import_format_policy(body: FormatPolicy, session: SessionDep, caller: CallerDep) -> ImportReport:
    """Rows are matched by PUID, name, or rule uuid (else purpose x PUID x command); rows the document does not
    mention stay as they are. A document with a dangling reference is refused whole (422)."""
    return await service.import_policy(session, body)


@policy_router.get("/resolved", response_model=list[ResolvedRule], summary="Enabled rules with their commands",
                   openapi_extra=internal_operation())
async def list_resolved_format_rules(session: SessionDep, caller: CallerDep,
                                     purpose: Purpose | None = None) -> list[ResolvedRule]:
    return await service.resolved_rules(session, purpose)


@policy_router.get("/groups", response_model=dict[str, str], summary="The format group of every PUID",
                   openapi_extra=internal_operation())
async def list_format_groups(session: SessionDep, caller: CallerDep) -> dict[str, str]:
    """For the fallback rules: a format without a thumbnail rule gets its group's icon."""
    return await service.format_groups(session)


@policy_router.post("/outcomes", response_model=OutcomesRecorded, summary="Count the outcomes of rules workers ran",
                    openapi_extra=internal_operation())
async def record_format_rule_outcomes(body: RuleOutcomes, session: SessionDep, caller: CallerDep) -> OutcomesRecorded:
    return OutcomesRecorded(recorded=await service.record_outcomes(session, body))


routers = [formats_router, tools_router, commands_router, rules_router, policy_router]
