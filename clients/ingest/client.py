"""Client of the ingest service."""

from __future__ import annotations

import uuid

from clients.ingest.schemas import IngestCreate, IngestRead, IngestUpdate, JobRead, JobUpsert
from servicekit.http import ServiceClient


class IngestClient(ServiceClient):
    service = "ingest"

    async def create_ingest(self, body: IngestCreate) -> IngestRead:
        # Idempotent: the service answers the existing ingest for a transfer it already has.
        response = await self.request("POST", "/ingests", json=body.model_dump(mode="json"), idempotent=True)
        return IngestRead.model_validate(response.json())

    async def get_ingest(self, ingest_uuid: uuid.UUID) -> IngestRead:
        response = await self.request("GET", f"/ingests/{ingest_uuid}")
        return IngestRead.model_validate(response.json())

    async def update_ingest(self, ingest_uuid: uuid.UUID, body: IngestUpdate) -> IngestRead:
        response = await self.request(
            "PATCH", f"/ingests/{ingest_uuid}", json=body.model_dump(mode="json", exclude_unset=True),
            idempotent=True,
        )
        return IngestRead.model_validate(response.json())

    async def upsert_job(self, ingest_uuid: uuid.UUID, key: str, body: JobUpsert) -> JobRead:
        response = await self.request(
            "PUT", f"/ingests/{ingest_uuid}/jobs/{key}", json=body.model_dump(mode="json", exclude_unset=True)
        )
        return JobRead.model_validate(response.json())
