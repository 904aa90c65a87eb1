"""Client of the storage service."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import aiofiles
import aiofiles.os
import httpx

from clients.storage.schemas import (
    AipMoveIn,
    AuditRead,
    DeletionDecision,
    DeletionRequestCreate,
    DeletionRequestRead,
    DeletionRequestStatus,
    FixityReport,
    LocationBrowse,
    LocationCreate,
    LocationPurpose,
    LocationRead,
    PackageRead,
    PackageStatus,
    PackageType,
    RecoveryRead,
)
from servicekit.auth import INTERNAL_USER_HEADER
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


def _tar_of_folder(folder: Path) -> AsyncIterator[bytes]:
    """A tar of `folder` (its name as the top folder), made as it is sent; the blocking reads run in threads."""
    import tarfile

    def plan() -> list[tuple[bytes, Path, int]]:
        entries = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            info = tarfile.TarInfo(f"{folder.name}/{path.relative_to(folder).as_posix()}")
            stat = path.stat()
            info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
            entries.append((info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"), path, stat.st_size))
        return entries

    async def chunks() -> AsyncIterator[bytes]:
        for header, path, size in await asyncio.to_thread(plan):
            yield header
            async with aiofiles.open(path, "rb") as handle:
                sent = 0
                while sent < size and (chunk := await handle.read(min(UPLOAD_CHUNK, size - sent))):
                    sent += len(chunk)
                    yield chunk
            if size % 512:
                yield b"\0" * (512 - size % 512)
        yield b"\0" * 1024

    return chunks()


class StorageClient(ServiceClient):
    service = "storage"

    def __init__(self, base_url: str, *, user: str | None = None, **kwargs: Any) -> None:
        """`user`: the acting user sent as X-Amber-User when calling the service directly (the gateway sets it
        from the API key otherwise); deletions are approved by another user than the requester."""
        super().__init__(base_url, **kwargs)
        if user:
            self._http.headers[INTERNAL_USER_HEADER] = user

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

    async def list_packages(
        self, package_type: PackageType = PackageType.aip, status: PackageStatus | None = None, *,
        limit: int = 100, offset: int = 0,
    ) -> Page[PackageRead]:
        """Stored packages of one type (AIPs, DIPs, backlog transfers), oldest first."""
        params: dict[str, str | int] = {"package_type": package_type.value, "limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status.value
        response = await self.request("GET", "/packages", params=params)
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
            if existing.status in (PackageStatus.stored, PackageStatus.verified) and existing.sha256 == sha256:
                return existing
        params = {"name": name, "sha256": sha256, "extension": extension}
        if location_uuid is not None:
            params["location_uuid"] = str(location_uuid)
        return await self._put_file(f"/aips/{aip_uuid}", params, source)

    async def move_aip_in(
        self,
        aip_uuid: UUID,
        name: str,
        sha256: str,
        source: Path,
        extension: str = "7z",
        location_uuid: UUID | None = None,
    ) -> PackageRead:
        """Store a package file the storage service can reach on its own filesystem (inside a currently
        processing location): renamed into place when on the same filesystem, else copied; nothing is
        uploaded. Idempotent, so it is retried like any PUT."""
        body = AipMoveIn(name=name, sha256=sha256.lower(), source_path=str(source), extension=extension,
                         location_uuid=location_uuid)
        response = await self.request("POST", f"/aips/{aip_uuid}/move-in", json=body.model_dump(mode="json"),
                                      idempotent=True, timeout=TRANSFER_TIMEOUT)
        return PackageRead.model_validate(response.json())

    async def store_dip(
        self,
        dip_uuid: UUID,
        name: str,
        sha256: str,
        source: Path,
        aip_uuid: UUID | None = None,
        extension: str = "7z",
        location_uuid: UUID | None = None,
    ) -> PackageRead:
        """Upload a DIP's package file (streamed, retried like `store_aip`), linked to the AIP it came from."""
        params = {"name": name, "sha256": sha256.lower(), "extension": extension}
        if aip_uuid is not None:
            params["aip_uuid"] = str(aip_uuid)
        if location_uuid is not None:
            params["location_uuid"] = str(location_uuid)
        return await self._put_file(f"/dips/{dip_uuid}", params, source)

    async def _put_file(self, url: str, params: dict[str, str], source: Path) -> PackageRead:
        attempts = self._retries + 1
        delay = 0.5
        for attempt in range(1, attempts + 1):
            size = (await aiofiles.os.stat(source)).st_size
            headers = self._headers({"Content-Length": str(size), "Content-Type": "application/octet-stream"})
            try:
                response = await self._http.put(
                    url,
                    params=params,
                    content=_file_chunks(source),
                    headers=headers,
                    timeout=TRANSFER_TIMEOUT,
                )
            except TRANSIENT_ERRORS as exc:
                if attempt == attempts:
                    raise ServiceError(self.service, None, "unreachable", str(exc)) from exc
                log.warning("storing %s failed (%s), retry %d/%d", url, exc, attempt, attempts - 1)
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

    async def store_aip_folder(
        self, aip_uuid: UUID, name: str, folder: Path, location_uuid: UUID | None = None
    ) -> PackageRead:
        """Store an uncompressed AIP: the bag folder is sent as a tar made on the fly and unpacked by the
        service, which checks every file against the bag's manifests. Retried from the start when the
        connection drops (the PUT is idempotent)."""
        return await self._put_folder(f"/aips/{aip_uuid}", name, folder, location_uuid)

    async def store_backlog_transfer(
        self, transfer_uuid: UUID, name: str, folder: Path, location_uuid: UUID | None = None
    ) -> PackageRead:
        """Store a processed transfer in the backlog (unpacked there as a folder); idempotent like an AIP's store."""
        return await self._put_folder(f"/backlog/{transfer_uuid}", name, folder, location_uuid)

    async def _put_folder(self, url: str, name: str, folder: Path, location_uuid: UUID | None) -> PackageRead:
        params = {"name": name, "uncompressed": "true"}
        if location_uuid is not None:
            params["location_uuid"] = str(location_uuid)
        attempts = self._retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.put(
                    url, params=params, content=_tar_of_folder(folder),
                    headers=self._headers({"Content-Type": "application/x-tar"}), timeout=TRANSFER_TIMEOUT,
                )
            except TRANSIENT_ERRORS as exc:
                if attempt == attempts:
                    raise ServiceError(self.service, None, "unreachable", str(exc)) from exc
                await asyncio.sleep(0.5 * attempt)
                continue
            raise_for_problem(self.service, response)
            return PackageRead.model_validate(response.json())
        raise AssertionError("unreachable")

    async def store_pointer_file(self, aip_uuid: UUID, xml: bytes) -> PackageRead:
        """Store a compressed AIP's pointer file beside it (PUT: storing it again replaces it)."""
        response = await self.request("PUT", f"/aips/{aip_uuid}/pointer", content=xml,
                                      headers={"Content-Type": "application/xml"})
        return PackageRead.model_validate(response.json())

    async def pointer_file(self, aip_uuid: UUID) -> bytes:
        """The pointer file stored with a compressed AIP (small: read whole)."""
        response = await self.request("GET", f"/aips/{aip_uuid}/pointer")
        return response.content

    async def get_package(self, package_uuid: UUID) -> PackageRead:
        """Any stored package (AIP, DIP, backlog transfer, replica)."""
        response = await self.request("GET", f"/packages/{package_uuid}")
        return PackageRead.model_validate(response.json())

    async def extract_aip_file(self, aip_uuid: UUID, path: str, dest: Path) -> int:
        """One file of a stored AIP (`path` relative to the bag, e.g. `data/METS.<uuid>.xml`) to `dest`."""
        partial = dest.with_name(dest.name + ".part")
        written = 0
        try:
            async with (
                self.stream("GET", f"/aips/{aip_uuid}/files/{path}", timeout=TRANSFER_TIMEOUT) as response,
                aiofiles.open(partial, "wb") as handle,
            ):
                async for chunk in response.aiter_bytes(UPLOAD_CHUNK):
                    await handle.write(chunk)
                    written += len(chunk)
            await aiofiles.os.replace(partial, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        return written

    async def check_aip_fixity(self, aip_uuid: UUID) -> FixityReport:
        response = await self.request("POST", f"/aips/{aip_uuid}/fixity", idempotent=True, timeout=TRANSFER_TIMEOUT)
        return FixityReport.model_validate(response.json())

    async def list_aip_replicas(self, aip_uuid: UUID) -> list[PackageRead]:
        response = await self.request("GET", f"/aips/{aip_uuid}/replicas")
        return [PackageRead.model_validate(item) for item in response.json()]

    async def replicate_aip(self, aip_uuid: UUID) -> list[PackageRead]:
        response = await self.request(
            "POST", f"/aips/{aip_uuid}/replicate", idempotent=True, timeout=TRANSFER_TIMEOUT
        )
        return [PackageRead.model_validate(item) for item in response.json()]

    async def recover_aip(self, aip_uuid: UUID) -> RecoveryRead:
        response = await self.request("POST", f"/aips/{aip_uuid}/recover", timeout=TRANSFER_TIMEOUT)
        return RecoveryRead.model_validate(response.json())

    async def request_aip_deletion(self, aip_uuid: UUID, reason: str) -> DeletionRequestRead:
        body = DeletionRequestCreate(reason=reason).model_dump(mode="json")
        response = await self.request("POST", f"/aips/{aip_uuid}/deletion-requests", json=body)
        return DeletionRequestRead.model_validate(response.json())

    async def approve_deletion(self, request_uuid: UUID, note: str = "") -> DeletionRequestRead:
        body = DeletionDecision(note=note).model_dump(mode="json")
        response = await self.request("POST", f"/deletion-requests/{request_uuid}/approve", json=body)
        return DeletionRequestRead.model_validate(response.json())

    async def reject_deletion(self, request_uuid: UUID, note: str = "") -> DeletionRequestRead:
        body = DeletionDecision(note=note).model_dump(mode="json")
        response = await self.request("POST", f"/deletion-requests/{request_uuid}/reject", json=body)
        return DeletionRequestRead.model_validate(response.json())

    async def get_deletion_request(self, request_uuid: UUID) -> DeletionRequestRead:
        response = await self.request("GET", f"/deletion-requests/{request_uuid}")
        return DeletionRequestRead.model_validate(response.json())

    async def list_deletion_requests(
        self, status: DeletionRequestStatus | None = None
    ) -> list[DeletionRequestRead]:
        params = {"status": status.value} if status is not None else {}
        response = await self.request("GET", "/deletion-requests", params=params)
        return [DeletionRequestRead.model_validate(item) for item in response.json()]

    async def create_location(self, body: LocationCreate) -> LocationRead:
        response = await self.request("POST", "/locations", json=body.model_dump(mode="json"))
        return LocationRead.model_validate(response.json())

    async def attach_replicator(self, location_uuid: UUID, replicator_uuid: UUID) -> list[LocationRead]:
        response = await self.request("PUT", f"/locations/{location_uuid}/replicators/{replicator_uuid}")
        return [LocationRead.model_validate(item) for item in response.json()]

    async def list_replicators(self, location_uuid: UUID) -> list[LocationRead]:
        response = await self.request("GET", f"/locations/{location_uuid}/replicators")
        return [LocationRead.model_validate(item) for item in response.json()]

    async def start_location_audit(self, location_uuid: UUID) -> AuditRead:
        response = await self.request("POST", f"/locations/{location_uuid}/audits")
        return AuditRead.model_validate(response.json())

    async def get_audit(self, audit_uuid: UUID) -> AuditRead:
        response = await self.request("GET", f"/audits/{audit_uuid}")
        return AuditRead.model_validate(response.json())
