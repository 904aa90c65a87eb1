"""Client of the ingest service."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from clients.ingest.processing import (
    DecisionAnswer,
    ProcessingConfigFields,
    ProcessingConfigRead,
    ProcessingConfigWrite,
)
from clients.ingest.schemas import (
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
        body = TasksBulk(tasks=tasks)
        response = await self.request("PUT", f"/ingests/{ingest_uuid}/jobs/{key}/tasks",
                                      json=body.model_dump(mode="json"))
        return int(response.json()["recorded"])

    async def upsert_job(self, ingest_uuid: uuid.UUID, key: str, body: JobUpsert) -> JobRead:
        response = await self.request(
            "PUT", f"/ingests/{ingest_uuid}/jobs/{key}", json=body.model_dump(mode="json", exclude_unset=True)
        )
        return JobRead.model_validate(response.json())
