"""Client of the metadata service."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal
from uuid import UUID

import aiofiles
import httpx

from clients.metadata.schemas import (
    MAX_BULK,
    AgentRecord,
    AipPackageRead,
    AipPackageRecord,
    BulkResult,
    DescriptiveRead,
    DescriptiveRecord,
    DirectoryRead,
    EventRead,
    FileRead,
    FileRecord,
    FileRelationships,
    FilesBulk,
    IdentifiersRecord,
    ImportResult,
    IndexStatus,
    ObjectEventRecord,
    PackageRead,
    PackageUpsert,
    RightsRead,
    RightsRecord,
    SearchHit,
    StructMapRead,
    StructMapUpload,
    ValidationReport,
)
from servicekit.bulk import json_bytes_content, json_content
from servicekit.http import ServiceClient
from servicekit.pagination import Page

CHARACTERISTICS_PER_CALL = 32 * 1024 * 1024
"""Tool output (characters) sent in one add_files call at most, unless one file alone has more: at up to 1 MiB per
tool and file, 5000 characterized files could make a request of gigabytes."""


def _by_characteristics(files: Sequence[FileRecord]) -> list[Sequence[FileRecord]]:
    groups: list[Sequence[FileRecord]] = []
    start = chars = 0
    for index, file in enumerate(files):
        size = sum(len(record.xml) for record in file.characteristics)
        if index > start and chars + size > CHARACTERISTICS_PER_CALL:
            groups.append(files[start:index])
            start, chars = index, 0
        chars += size
    groups.append(files[start:])
    return groups


class MetadataClient(ServiceClient):
    service = "metadata"

    async def upsert_package(self, package_uuid: UUID, body: PackageUpsert) -> PackageRead:
        response = await self.request("PUT", f"/premis/packages/{package_uuid}", json=body.model_dump(mode="json"))
        return PackageRead.model_validate(response.json())

    async def get_package(self, package_uuid: UUID) -> PackageRead:
        response = await self.request("GET", f"/premis/packages/{package_uuid}")
        return PackageRead.model_validate(response.json())

    async def add_files(
        self, package_uuid: UUID, files: Sequence[FileRecord], *, batch_size: int = MAX_BULK,
        agents: Sequence[AgentRecord] = (),
    ) -> BulkResult:
        """Record files with their events and characteristics, `batch_size` per call (fewer when their tool
        output would exceed CHARACTERISTICS_PER_CALL). Safe to retry: recorded uuids are skipped.

        `agents`: those of every event made without agents of its own (`EventRecord` not given `agents`), sent
        once per call (`FilesBulk.agents`) rather than with each event. Fields left unset are not sent: the
        service fills in the same defaults."""
        shared = list(agents)
        total = BulkResult(created=0, unchanged=0)
        for group in _by_characteristics(files):
            for start in range(0, len(group), batch_size):
                body = FilesBulk(files=list(group[start : start + batch_size]), agents=shared)
                data = FilesBulk.__pydantic_serializer__.to_json(body, exclude_unset=True)
                result = await self._post_bulk(f"/premis/packages/{package_uuid}/files", json_bytes_content(data))
                total.created += result.created
                total.unchanged += result.unchanged
        return total

    async def add_relationships(self, package_uuid: UUID, files: Sequence[FileRelationships], *,
                                batch_size: int = MAX_BULK) -> BulkResult:
        """Add PREMIS relationships to recorded files. Safe to retry."""
        return await self._bulk(f"/premis/packages/{package_uuid}/files/relationships", "files", files, batch_size)

    async def add_events(
        self, package_uuid: UUID, events: Sequence[ObjectEventRecord], *, batch_size: int = MAX_BULK
    ) -> BulkResult:
        """Record events (by default about the package itself). Safe to retry."""
        return await self._bulk(f"/premis/packages/{package_uuid}/events", "events", events, batch_size)

    async def list_files(
        self, package_uuid: UUID, *, limit: int = 100, offset: int = 0, use: str | None = None,
        puid: str | None = None, path_prefix: str | None = None,
    ) -> Page[FileRead]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        params.update({k: v for k, v in (("use", use), ("puid", puid), ("path_prefix", path_prefix)) if v})
        response = await self.request("GET", f"/premis/packages/{package_uuid}/files", params=params)
        return Page[FileRead].model_validate(response.json())

    async def list_events(
        self, package_uuid: UUID, *, object_uuid: UUID | None = None, limit: int = 100, offset: int = 0,
        type: str | None = None,
    ) -> Page[EventRead]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if object_uuid is not None:
            params["object_uuid"] = str(object_uuid)
        if type is not None:
            params["type"] = type
        response = await self.request("GET", f"/premis/packages/{package_uuid}/events", params=params)
        return Page[EventRead].model_validate(response.json())

    @asynccontextmanager
    async def stream_mets(self, package_uuid: UUID) -> AsyncIterator[AsyncIterator[bytes]]:
        """The package's AIP METS as it is generated: `async with c.stream_mets(u) as chunks: async for b in chunks`."""
        async with self.stream("GET", f"/mets/{package_uuid}") as response:
            yield response.aiter_bytes()

    async def download_mets(self, package_uuid: UUID, dest: Path,
                            also: Callable[[bytes], Awaitable[None]] | None = None) -> int:
        """Write the package's AIP METS to `dest` (streamed; replaced atomically); returns the bytes written.

        `also` is given each piece once it is written (to validate the document as it arrives)."""
        partial = dest.with_name(f".{dest.name}.part")
        written = 0
        try:
            async with self.stream_mets(package_uuid) as chunks, aiofiles.open(partial, "wb") as out:
                async for chunk in chunks:
                    await out.write(chunk)
                    written += len(chunk)
                    if also is not None:
                        await also(chunk)
            os.replace(partial, dest)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return written

    # -- the record forwarded from the transfer journal (all idempotent: safe to retry) ------------------------

    async def _bulk(self, url: str, key: str, records: Sequence[object], batch_size: int,
                    extra: dict[str, object] | None = None) -> BulkResult:
        total = BulkResult(created=0, unchanged=0)
        for start in range(0, len(records), batch_size):
            body = json_content({**(extra or {}), key: records[start : start + batch_size]})
            result = await self._post_bulk(url, body)
            total.created += result.created
            total.unchanged += result.unchanged
        return total

    async def _post_bulk(self, url: str, body: tuple[bytes, dict[str, str]]) -> BulkResult:
        content, headers = body
        response = await self.request("POST", url, content=content, headers=headers, idempotent=True)
        return BulkResult.model_validate(response.json())

    async def add_descriptive_metadata(
        self, package_uuid: UUID, records: Sequence[DescriptiveRecord | Mapping[str, object]], *,
        kind: Literal["dublin_core", "custom"] = "dublin_core", batch_size: int = MAX_BULK,
    ) -> BulkResult:
        """Journal `dublin_core` (kind dublin_core) or `custom_metadata` (kind custom) records: {path, elements}."""
        return await self._bulk(f"/premis/packages/{package_uuid}/descriptive", "records", records, batch_size,
                                {"kind": kind})

    async def add_rights(
        self, package_uuid: UUID, records: Sequence[RightsRecord | Mapping[str, object]], *,
        batch_size: int = MAX_BULK,
    ) -> BulkResult:
        """Journal `rights` records: {path, statement} (statement: a parsed rights.csv row or our shape)."""
        return await self._bulk(f"/premis/packages/{package_uuid}/rights", "records", records, batch_size)

    async def add_identifiers(
        self, package_uuid: UUID, records: Sequence[IdentifiersRecord | Mapping[str, object]], *,
        batch_size: int = MAX_BULK,
    ) -> BulkResult:
        """Journal `identifiers` records: {path, identifiers: [{type, value}]}."""
        return await self._bulk(f"/premis/packages/{package_uuid}/identifiers", "records", records, batch_size)

    async def add_directories(
        self, package_uuid: UUID, paths: Sequence[str], *, empty: bool = True, batch_size: int = MAX_BULK
    ) -> BulkResult:
        """Directories as intellectual entities; journal `empty_directory` paths with empty=True."""
        return await self._bulk(f"/premis/packages/{package_uuid}/directories", "paths", paths, batch_size,
                                {"empty": empty})

    async def list_descriptive_metadata(
        self, package_uuid: UUID, *, limit: int = 100, offset: int = 0
    ) -> Page[DescriptiveRead]:
        response = await self.request("GET", f"/premis/packages/{package_uuid}/descriptive",
                                      params={"limit": limit, "offset": offset})
        return Page[DescriptiveRead].model_validate(response.json())

    async def list_rights(self, package_uuid: UUID, *, limit: int = 100, offset: int = 0) -> Page[RightsRead]:
        response = await self.request("GET", f"/premis/packages/{package_uuid}/rights",
                                      params={"limit": limit, "offset": offset})
        return Page[RightsRead].model_validate(response.json())

    async def list_directories(
        self, package_uuid: UUID, *, limit: int = 100, offset: int = 0
    ) -> Page[DirectoryRead]:
        response = await self.request("GET", f"/premis/packages/{package_uuid}/directories",
                                      params={"limit": limit, "offset": offset})
        return Page[DirectoryRead].model_validate(response.json())

    async def put_custom_structmap(
        self, package_uuid: UUID, xml: str, *, ordinal: int = 1, label: str | None = None
    ) -> StructMapRead:
        """Attach a transfer's metadata/mets_structmap.xml (text). Idempotent."""
        body = StructMapUpload(xml=xml, label=label)
        response = await self.request("PUT", f"/premis/packages/{package_uuid}/structmaps/{ordinal}",
                                      json=body.model_dump(mode="json"))
        return StructMapRead.model_validate(response.json())

    async def record_aip(self, package_uuid: UUID, body: AipPackageRecord) -> AipPackageRead:
        """Mark the package stored (its AIP file, for the pointer file) and queue it for search. Idempotent."""
        response = await self.request("PUT", f"/premis/packages/{package_uuid}/aip", json=body.model_dump(mode="json"))
        return AipPackageRead.model_validate(response.json())

    async def pointer_file(self, package_uuid: UUID) -> bytes:
        """The compressed AIP's pointer file (small: read whole)."""
        response = await self.request("GET", f"/mets/{package_uuid}/pointer")
        return response.content

    async def index_package(self, package_uuid: UUID) -> IndexStatus:
        """Queue the package for search indexing (background; never fails the caller's work). Idempotent."""
        response = await self.request("POST", f"/search/packages/{package_uuid}/index", idempotent=True)
        return IndexStatus.model_validate(response.json())

    async def remove_from_index(self, package_uuid: UUID) -> IndexStatus:
        """Take the package out of search (its AIP was deleted). Idempotent."""
        response = await self.request("DELETE", f"/search/packages/{package_uuid}/index", idempotent=True)
        return IndexStatus.model_validate(response.json())

    async def index_status(self, package_uuid: UUID) -> IndexStatus:
        response = await self.request("GET", f"/search/packages/{package_uuid}/index")
        return IndexStatus.model_validate(response.json())

    async def search(
        self, q: str | None = None, *, limit: int = 100, offset: int = 0, sort: str = "relevance",
        order: str = "asc", **filters: str | int | UUID | None,
    ) -> Page[SearchHit]:
        """GET /search: words in `q`, filters kind, package_uuid, puid, format_name, min_size, max_size,
        date_from, date_to (ISO with zone)."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset, "sort": sort, "order": order}
        if q:
            params["q"] = q
        params.update({k: str(v) for k, v in filters.items() if v is not None})
        response = await self.request("GET", "/search", params=params)
        return Page[SearchHit].model_validate(response.json())

    async def validate_document(self, path: Path) -> ValidationReport:
        """Validate a METS or PREMIS file (streamed up) against the vendored schemas."""
        response = await self._upload_xml("/mets/validate", path)
        return ValidationReport.model_validate(response.json())

    async def _upload_xml(self, url: str, path: Path) -> httpx.Response:
        async with aiofiles.open(path, "rb") as handle:

            async def body() -> AsyncIterator[bytes]:
                while chunk := await handle.read(1024 * 1024):
                    yield chunk

            return await self.request("POST", url, content=body(), headers={"Content-Type": "application/xml"})

    async def import_transfer_premis(self, package_uuid: UUID, path: Path) -> ImportResult:
        """Import a transfer's metadata/premis.xml (events and rights of its files; PREMIS 3.0 or 2.2). Idempotent;
        call it after add_files, since objects are matched to recorded files by original name."""
        response = await self._upload_xml(f"/premis/packages/{package_uuid}/import/premis", path)
        return ImportResult.model_validate(response.json())

    async def import_aip_mets(self, package_uuid: UUID, path: Path) -> ImportResult:
        """Import an existing AIP's METS (every file with its PREMIS object and events). Idempotent."""
        response = await self._upload_xml(f"/premis/packages/{package_uuid}/import/mets", path)
        return ImportResult.model_validate(response.json())
