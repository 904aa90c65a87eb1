"""Client of the storage service."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import aiofiles
import aiofiles.os
import httpx

from clients.storage.schemas import LocationBrowse, LocationPurpose, LocationRead, PackageRead, PackageStatus
from servicekit.http import RETRY_STATUSES, ServiceClient, ServiceError, raise_for_problem
from servicekit.pagination import Page

log = logging.getLogger(__name__)

UPLOAD_CHUNK = 1024 * 1024
# Per socket operation, not in total: a many-GB transfer may take hours, but never waits this long for one
# chunk, nor for the server to sync the received file to disk before answering.
TRANSFER_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
TRANSIENT_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with aiofiles.open(path, "rb") as handle:
        while chunk := await handle.read(UPLOAD_CHUNK):
            yield chunk


class StorageClient(ServiceClient):
    service = "storage"

    async def list_locations(self, purpose: LocationPurpose | None = None) -> list[LocationRead]:
        params = {"purpose": purpose.value} if purpose is not None else {}
        response = await self.request("GET", "/locations", params=params)
        return [LocationRead.model_validate(item) for item in response.json()]

    async def get_location(self, location_uuid: UUID) -> LocationRead:
        response = await self.request("GET", f"/locations/{location_uuid}")
        return LocationRead.model_validate(response.json())

    async def browse_location(self, location_uuid: UUID, path: str = "") -> LocationBrowse:
        response = await self.request("GET", f"/locations/{location_uuid}/browse", params={"path": path})
        return LocationBrowse.model_validate(response.json())

    async def get_aip(self, aip_uuid: UUID) -> PackageRead:
        response = await self.request("GET", f"/aips/{aip_uuid}")
        return PackageRead.model_validate(response.json())

    async def list_aips(self, limit: int = 100, offset: int = 0) -> Page[PackageRead]:
        response = await self.request("GET", "/aips", params={"limit": limit, "offset": offset})
        return Page[PackageRead].model_validate(response.json())

    async def store_aip(
        self,
        aip_uuid: UUID,
        name: str,
        sha256: str,
        source: Path,
        extension: str = "7z",
        location_uuid: UUID | None = None,
    ) -> PackageRead:
        """Upload the package file at `source`, streamed; answers the stored package.

        The PUT is idempotent, so a connection lost mid-way is retried from the start with the file opened
        again; an AIP already stored with the same checksum is answered without uploading it again.
        """
        sha256 = sha256.lower()
        with contextlib.suppress(ServiceError):
            existing = await self.get_aip(aip_uuid)
            if existing.status == PackageStatus.stored and existing.sha256 == sha256:
                return existing
        params = {"name": name, "sha256": sha256, "extension": extension}
        if location_uuid is not None:
            params["location_uuid"] = str(location_uuid)
        attempts = self._retries + 1
        delay = 0.5
        for attempt in range(1, attempts + 1):
            size = (await aiofiles.os.stat(source)).st_size
            headers = self._headers({"Content-Length": str(size), "Content-Type": "application/octet-stream"})
            try:
                response = await self._http.put(
                    f"/aips/{aip_uuid}",
                    params=params,
                    content=_file_chunks(source),
                    headers=headers,
                    timeout=TRANSFER_TIMEOUT,
                )
            except TRANSIENT_ERRORS as exc:
                if attempt == attempts:
                    raise ServiceError(self.service, None, "unreachable", str(exc)) from exc
                log.warning("storing AIP %s failed (%s), retry %d/%d", aip_uuid, exc, attempt, attempts - 1)
            else:
                if response.status_code not in RETRY_STATUSES or attempt == attempts:
                    raise_for_problem(self.service, response)
                    return PackageRead.model_validate(response.json())
                log.warning("storage answered %d, retry %d/%d", response.status_code, attempt, attempts - 1)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")

    async def download_aip(self, aip_uuid: UUID, dest: Path) -> int:
        """Stream the AIP's package file to `dest`; returns its size in bytes.

        The bytes land in `<dest>.part` first and are checked against the SHA-256 the service sends as ETag,
        so `dest` only ever appears complete.
        """
        partial = dest.with_name(dest.name + ".part")
        digest = hashlib.sha256()
        written = 0
        try:
            async with self.stream("GET", f"/aips/{aip_uuid}/download", timeout=TRANSFER_TIMEOUT) as response:
                etag = response.headers.get("etag", "").strip('"')
                async with aiofiles.open(partial, "wb") as handle:
                    async for chunk in response.aiter_bytes(UPLOAD_CHUNK):
                        await handle.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
            if etag and digest.hexdigest() != etag:
                raise ServiceError(
                    self.service, None, "Corrupt download",
                    f"SHA-256 of the downloaded AIP {aip_uuid} is {digest.hexdigest()}, expected {etag}",
                )
            await aiofiles.os.replace(partial, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        return written
