"""Client of the ingest service."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from clients.ingest.fpr import (
    CommandRead,
    CommandUpdate,
    FormatPolicy,
    FormatRead,
    FormatUpdate,
    ImportReport,
    PolicyCommand,
    PolicyFormat,
    PolicyTool,
    Purpose,
    ResolvedRule,
    RuleOutcome,
    RuleOutcomes,
    RuleRead,
    RuleUpdate,
    RuleWrite,
    ToolRead,
    ToolUpdate,
)
from clients.ingest.normalization import (
    AttemptDecision,
    AttemptDecisionRecord,
    NormalizationOutcomeRead,
    NormalizationOutcomeRecord,
    NormalizationOutcomesBulk,
)
from clients.ingest.processing import (
    DecisionAnswer,
    ProcessingConfigFields,
    ProcessingConfigRead,
    ProcessingConfigWrite,
)
from clients.ingest.schemas import (
    CleanUpRead,
    IngestCreate,
    IngestRead,
    IngestStatus,
    IngestUpdate,
    JobRead,
    JobUpsert,
    TaskRead,
    TaskRecord,
    TasksBulk,
)
from servicekit.bulk import json_content
from servicekit.http import ServiceClient
from servicekit.pagination import Page


class IngestClient(ServiceClient):
    service = "ingest"

    async def create_ingest(self, body: IngestCreate) -> IngestRead:
        # Idempotent: the service answers the existing ingest for a transfer it already has.
        response = await self.request("POST", "/ingests", json=body.model_dump(mode="json"), idempotent=True)
        return IngestRead.model_validate(response.json())

    async def get_ingest(self, ingest_uuid: uuid.UUID) -> IngestRead:
        response = await self.request("GET", f"/ingests/{ingest_uuid}")
        return IngestRead.model_validate(response.json())

    async def list_ingests(
        self, status: IngestStatus | None = None, *, limit: int = 100, offset: int = 0
    ) -> Page[IngestRead]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status.value
        response = await self.request("GET", "/ingests", params=params)
        return Page[IngestRead].model_validate(response.json())

    async def list_jobs(self, ingest_uuid: uuid.UUID, *, limit: int = 100, offset: int = 0) -> Page[JobRead]:
        response = await self.request("GET", f"/ingests/{ingest_uuid}/jobs", params={"limit": limit, "offset": offset})
        return Page[JobRead].model_validate(response.json())

    async def list_tasks(
        self, ingest_uuid: uuid.UUID, job: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> Page[TaskRead]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if job is not None:
            params["job"] = job
        response = await self.request("GET", f"/ingests/{ingest_uuid}/tasks", params=params)
        return Page[TaskRead].model_validate(response.json())

    async def update_ingest(self, ingest_uuid: uuid.UUID, body: IngestUpdate) -> IngestRead:
        response = await self.request(
            "PATCH", f"/ingests/{ingest_uuid}", json=body.model_dump(mode="json", exclude_unset=True),
            idempotent=True,
        )
        return IngestRead.model_validate(response.json())

    async def answer_decision(self, ingest_uuid: uuid.UUID, answer: DecisionAnswer) -> IngestRead:
        response = await self.request("POST", f"/ingests/{ingest_uuid}/decisions", json=answer.model_dump())
        return IngestRead.model_validate(response.json())

    async def cancel_ingest(self, ingest_uuid: uuid.UUID) -> IngestRead:
        """Cancel a queued, running or waiting ingest; 409 (ServiceError) once it has finished."""
        response = await self.request("POST", f"/ingests/{ingest_uuid}/cancel", idempotent=True)
        return IngestRead.model_validate(response.json())

    async def retry_ingest(self, ingest_uuid: uuid.UUID) -> IngestRead:
        """The new ingest processing a failed or cancelled one's kept transfer (the same one when asked again)."""
        response = await self.request("POST", f"/ingests/{ingest_uuid}/retry", idempotent=True)
        return IngestRead.model_validate(response.json())

    async def clean_up_ingest(self, ingest_uuid: uuid.UUID, *, transfer: bool = False) -> CleanUpRead:
        """Remove what a failed, rejected or cancelled ingest left in the processing location (with `transfer`,
        the transfer folder kept for a retry too)."""
        response = await self.request("POST", f"/ingests/{ingest_uuid}/clean-up",
                                      params={"transfer": str(transfer).lower()}, idempotent=True)
        return CleanUpRead.model_validate(response.json())

    async def list_processing_configs(self) -> list[ProcessingConfigRead]:
        response = await self.request("GET", "/processing-configurations")
        return [ProcessingConfigRead.model_validate(item) for item in response.json()]

    async def put_processing_config(self, name: str, fields: ProcessingConfigFields) -> ProcessingConfigRead:
        body = ProcessingConfigWrite(fields=fields)
        response = await self.request("PUT", f"/processing-configurations/{name}", json=body.model_dump())
        return ProcessingConfigRead.model_validate(response.json())

    async def get_processing_config(self, name: str) -> ProcessingConfigRead:
        """Raises ServiceError with status 404 when there is no configuration of that name."""
        response = await self.request("GET", f"/processing-configurations/{quote(name, safe='')}")
        return ProcessingConfigRead.model_validate(response.json())

    async def export_processing_config_xml(self, name: str) -> str:
        """The configuration as the processingMCP.xml Archivematica would read."""
        response = await self.request("GET", f"/processing-configurations/{quote(name, safe='')}/processingMCP.xml")
        return response.text

    async def import_processing_config_xml(self, name: str, xml: bytes) -> ProcessingConfigRead:
        """Create or replace the configuration `name` from an Archivematica processingMCP.xml."""
        response = await self.request(
            "POST", f"/processing-configurations/{quote(name, safe='')}/import", content=xml,
            headers={"Content-Type": "application/xml"}, idempotent=True,
        )
        return ProcessingConfigRead.model_validate(response.json())

    async def record_tasks(self, ingest_uuid: uuid.UUID, key: str, tasks: list[TaskRecord]) -> int:
        content, headers = json_content(TasksBulk(tasks=tasks))
        response = await self.request("PUT", f"/ingests/{ingest_uuid}/jobs/{key}/tasks", content=content,
                                      headers=headers)
        return int(response.json()["recorded"])

    async def upsert_job(self, ingest_uuid: uuid.UUID, key: str, body: JobUpsert) -> JobRead:
        response = await self.request(
            "PUT", f"/ingests/{ingest_uuid}/jobs/{key}", json=body.model_dump(mode="json", exclude_unset=True)
        )
        return JobRead.model_validate(response.json())

    # --- format policy registry ---

    async def list_format_rules(self, *, purpose: Purpose | None = None, puid: str | None = None,
                                command: str | None = None, enabled: bool | None = None, limit: int = 100,
                                offset: int = 0) -> Page[RuleRead]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        for name, value in (("purpose", purpose), ("puid", puid), ("command", command)):
            if value is not None:
                params[name] = value
        if enabled is not None:
            params["enabled"] = "true" if enabled else "false"
        response = await self.request("GET", "/format-rules", params=params)
        return Page[RuleRead].model_validate(response.json())

    async def get_format_rule(self, rule: uuid.UUID) -> RuleRead:
        response = await self.request("GET", f"/format-rules/{rule}")
        return RuleRead.model_validate(response.json())

    async def create_format_rule(self, body: RuleWrite) -> RuleRead:
        response = await self.request("POST", "/format-rules", json=body.model_dump(mode="json"))
        return RuleRead.model_validate(response.json())

    async def update_format_rule(self, rule: uuid.UUID, body: RuleUpdate) -> RuleRead:
        response = await self.request("PATCH", f"/format-rules/{rule}",
                                      json=body.model_dump(mode="json", exclude_unset=True), idempotent=True)
        return RuleRead.model_validate(response.json())

    async def delete_format_rule(self, rule: uuid.UUID) -> None:
        await self.request("DELETE", f"/format-rules/{rule}", idempotent=True)

    async def list_formats(self, *, group: str | None = None, limit: int = 100, offset: int = 0) -> Page[FormatRead]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if group is not None:
            params["group"] = group
        response = await self.request("GET", "/formats", params=params)
        return Page[FormatRead].model_validate(response.json())

    async def get_format(self, puid: str) -> FormatRead:
        response = await self.request("GET", f"/formats/{puid}")
        return FormatRead.model_validate(response.json())

    async def create_format(self, body: PolicyFormat) -> FormatRead:
        response = await self.request("POST", "/formats", json=body.model_dump(mode="json"))
        return FormatRead.model_validate(response.json())

    async def update_format(self, puid: str, body: FormatUpdate) -> FormatRead:
        response = await self.request("PATCH", f"/formats/{puid}", json=body.model_dump(mode="json",
                                      exclude_unset=True), idempotent=True)
        return FormatRead.model_validate(response.json())

    async def list_format_tools(self, *, limit: int = 100, offset: int = 0) -> Page[ToolRead]:
        response = await self.request("GET", "/format-tools", params={"limit": limit, "offset": offset})
        return Page[ToolRead].model_validate(response.json())

    async def create_format_tool(self, body: PolicyTool) -> ToolRead:
        response = await self.request("POST", "/format-tools", json=body.model_dump(mode="json"))
        return ToolRead.model_validate(response.json())

    async def update_format_tool(self, name: str, body: ToolUpdate) -> ToolRead:
        response = await self.request("PATCH", f"/format-tools/{quote(name, safe='')}",
                                      json=body.model_dump(mode="json", exclude_unset=True), idempotent=True)
        return ToolRead.model_validate(response.json())

    async def list_format_commands(self, *, tool: str | None = None, limit: int = 100,
                                   offset: int = 0) -> Page[CommandRead]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if tool is not None:
            params["tool"] = tool
        response = await self.request("GET", "/format-commands", params=params)
        return Page[CommandRead].model_validate(response.json())

    async def get_format_command(self, name: str) -> CommandRead:
        response = await self.request("GET", f"/format-commands/{quote(name, safe='')}")
        return CommandRead.model_validate(response.json())

    async def create_format_command(self, body: PolicyCommand) -> CommandRead:
        response = await self.request("POST", "/format-commands", json=body.model_dump(mode="json"))
        return CommandRead.model_validate(response.json())

    async def update_format_command(self, name: str, body: CommandUpdate) -> CommandRead:
        response = await self.request("PATCH", f"/format-commands/{quote(name, safe='')}",
                                      json=body.model_dump(mode="json", exclude_unset=True), idempotent=True)
        return CommandRead.model_validate(response.json())

    async def export_format_policy(self) -> FormatPolicy:
        response = await self.request("GET", "/format-policy")
        return FormatPolicy.model_validate(response.json())

    async def import_format_policy(self, policy: FormatPolicy) -> ImportReport:
        """Idempotent: importing the same document again changes nothing."""
        response = await self.request("POST", "/format-policy", json=policy.model_dump(mode="json"),
                                      idempotent=True)
        return ImportReport.model_validate(response.json())

    async def resolved_format_rules(self, purpose: Purpose | None = None) -> list[ResolvedRule]:
        """Internal: the enabled rules (of one purpose) with their commands, tools and verifiers."""
        params = {"purpose": purpose} if purpose is not None else None
        response = await self.request("GET", "/format-policy/resolved", params=params)
        return [ResolvedRule.model_validate(item) for item in response.json()]

    async def format_groups(self) -> dict[str, str]:
        """Internal: PUID → format group, for the fallback rules (`PolicyIndex(rules, groups)`)."""
        response = await self.request("GET", "/format-policy/groups")
        return {str(k): str(v) for k, v in response.json().items()}

    async def record_format_rule_outcomes(self, outcomes: list[RuleOutcome]) -> int:
        """Internal: count what the rules did. Not retried: a repeat would count twice."""
        response = await self.request("POST", "/format-policy/outcomes",
                                      json=RuleOutcomes(outcomes=outcomes).model_dump(mode="json"))
        return int(response.json()["recorded"])

    async def record_normalization_outcomes(self, ingest_uuid: uuid.UUID, attempt: int,
                                            outcomes: list[NormalizationOutcomeRecord]) -> int:
        """Internal: what each rule did to each file; keyed by attempt, file and purpose (safe to retry)."""
        body = NormalizationOutcomesBulk(attempt=attempt, outcomes=outcomes)
        response = await self.request("POST", f"/ingests/{ingest_uuid}/normalization",
                                      json=body.model_dump(mode="json"), idempotent=True)
        return int(response.json()["recorded"])

    async def record_normalization_decision(self, ingest_uuid: uuid.UUID, attempt: int,
                                            decision: AttemptDecision) -> int:
        response = await self.request("PUT", f"/ingests/{ingest_uuid}/normalization/{attempt}/decision",
                                      json=AttemptDecisionRecord(decision=decision).model_dump(), idempotent=True)
        return int(response.json()["updated"])

    async def normalization_report(self, ingest_uuid: uuid.UUID, *, attempt: int | None = None,
                                   purpose: str | None = None, outcome: str | None = None, limit: int = 100,
                                   offset: int = 0) -> Page[NormalizationOutcomeRead]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        params.update({k: v for k, v in (("attempt", attempt), ("purpose", purpose), ("outcome", outcome))
                       if v is not None})
        response = await self.request("GET", f"/ingests/{ingest_uuid}/normalization", params=params)
        return Page[NormalizationOutcomeRead].model_validate(response.json())
