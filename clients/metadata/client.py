"""Client of the metadata service."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import UUID

import aiofiles

from clients.metadata.schemas import (
    MAX_BULK,
    BulkResult,
    EventRead,
    EventsBulk,
    FileRead,
    FileRecord,
    FilesBulk,
    ObjectEventRecord,
    PackageRead,
    PackageUpsert,
)
from servicekit.http import ServiceClient
from servicekit.pagination import Page


class MetadataClient(ServiceClient):
    service = "metadata"

    async def upsert_package(self, package_uuid: UUID, body: PackageUpsert) -> PackageRead:
        response = await self.request("PUT", f"/premis/packages/{package_uuid}", json=body.model_dump(mode="json"))
        return PackageRead.model_validate(response.json())

    async def get_package(self, package_uuid: UUID) -> PackageRead:
        response = await self.request("GET", f"/premis/packages/{package_uuid}")
        return PackageRead.model_validate(response.json())

    async def add_files(
        self, package_uuid: UUID, files: Sequence[FileRecord], *, batch_size: int = MAX_BULK
    ) -> BulkResult:
        """Record files with their events, `batch_size` per call. Safe to retry: recorded uuids are skipped."""
        created = unchanged = 0
        for start in range(0, len(files), batch_size):
            body = FilesBulk(files=list(files[start : start + batch_size]))
            response = await self.request(
                "POST", f"/premis/packages/{package_uuid}/files", json=body.model_dump(mode="json"), idempotent=True
            )
            result = BulkResult.model_validate(response.json())
            created += result.created
            unchanged += result.unchanged
        return BulkResult(created=created, unchanged=unchanged)

    async def add_events(
        self, package_uuid: UUID, events: Sequence[ObjectEventRecord], *, batch_size: int = MAX_BULK
    ) -> BulkResult:
        """Record events (by default about the package itself). Safe to retry."""
        created = unchanged = 0
        for start in range(0, len(events), batch_size):
            body = EventsBulk(events=list(events[start : start + batch_size]))
            response = await self.request(
                "POST", f"/premis/packages/{package_uuid}/events", json=body.model_dump(mode="json"), idempotent=True
            )
            result = BulkResult.model_validate(response.json())
            created += result.created
            unchanged += result.unchanged
        return BulkResult(created=created, unchanged=unchanged)

    async def list_files(self, package_uuid: UUID, *, limit: int = 100, offset: int = 0) -> Page[FileRead]:
        response = await self.request(
            "GET", f"/premis/packages/{package_uuid}/files", params={"limit": limit, "offset": offset}
        )
        return Page[FileRead].model_validate(response.json())

    async def list_events(
        self, package_uuid: UUID, *, object_uuid: UUID | None = None, limit: int = 100, offset: int = 0
    ) -> Page[EventRead]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if object_uuid is not None:
            params["object_uuid"] = str(object_uuid)
        response = await self.request("GET", f"/premis/packages/{package_uuid}/events", params=params)
        return Page[EventRead].model_validate(response.json())

    @asynccontextmanager
    async def stream_mets(self, package_uuid: UUID) -> AsyncIterator[AsyncIterator[bytes]]:
        """The package's AIP METS as it is generated: `async with c.stream_mets(u) as chunks: async for b in chunks`."""
        async with self.stream("GET", f"/mets/{package_uuid}") as response:
            yield response.aiter_bytes()

    async def download_mets(self, package_uuid: UUID, dest: Path) -> int:
        """Write the package's AIP METS to `dest` (streamed; replaced atomically); returns the bytes written."""
        partial = dest.with_name(f".{dest.name}.part")
        written = 0
        try:
            async with self.stream_mets(package_uuid) as chunks, aiofiles.open(partial, "wb") as out:
                async for chunk in chunks:
                    await out.write(chunk)
                    written += len(chunk)
            os.replace(partial, dest)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return written
