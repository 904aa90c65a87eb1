"""`amber ingest`: start a transfer through the gateway and, on request, follow it to a stored AIP.

The CLI speaks to the gateway with the services' own typed clients: the gateway serves each service's
operations under `/api/v1`, and accepts the user's API key as a bearer token.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clients.ingest import FINAL_STATUSES, CleanUpRead, DecisionAnswer, IngestClient, IngestRead, IngestStatus
from clients.ingest.schemas import DEFAULT_PROCESSING_CONFIG
from clients.storage import StorageClient
from clients.transfer import TransferClient, TransferFromLocation, TransferRead, TransferStatus
from clients.transfer.schemas import ARCHIVE_SUFFIXES, ArchiveFormat
from servicekit.http import ServiceError

TERMINAL = FINAL_STATUSES  # a cancelled ingest ends `--wait` too


class IngestCommandError(Exception):
    pass


def archive_format(path: Path) -> ArchiveFormat | None:
    name = path.name.lower()
    return next((kind for suffix, kind in ARCHIVE_SUFFIXES.items() if name.endswith(suffix)), None)


async def start_transfer(transfers: TransferClient, path: Path | None, name: str, location: str | None,
                         location_path: str | None, processing_config: str = DEFAULT_PROCESSING_CONFIG,
                         ) -> TransferRead:
    if location is not None:
        body = TransferFromLocation(name=name, location_uuid=UUID(location), path=location_path or "",
                                    processing_config=processing_config)
        return await transfers.create_transfer_from_location(body)
    assert path is not None
    if await asyncio.to_thread(path.is_dir):
        return await transfers.upload_transfer(name, path, processing_config=processing_config)
    kind = archive_format(path)
    if kind is None:
        accepted = "/".join(ARCHIVE_SUFFIXES)
        raise IngestCommandError(f"{path} is neither a folder nor a {accepted} archive")
    return await transfers.upload_transfer(name, path, kind, processing_config=processing_config)


async def follow(transfers: TransferClient, ingests: IngestClient, transfer: TransferRead,
                 console: Console | None, timeout: float) -> IngestRead | None:
    """Poll until the AIP is stored or the ingest fails, showing the current job and files done."""
    deadline = time.monotonic() + timeout
    while transfer.ingest_uuid is None:
        if transfer.status == TransferStatus.failed:
            return None
        if time.monotonic() > deadline:
            raise IngestCommandError("timed out waiting for the transfer to reach ingest")
        await asyncio.sleep(0.5)
        transfer = await transfers.get_transfer(transfer.uuid)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, disable=console is None, transient=True)
    with progress:
        task = progress.add_task("queued", total=None)
        announced: set[str] = set()
        warned = 0
        while True:
            ingest = await ingests.get_ingest(transfer.ingest_uuid)
            if console is not None:
                for warning in ingest.warnings[warned:]:
                    console.print(f"[yellow]Warning:[/] {warning.message}")
            warned = len(ingest.warnings)
            waiting = f"queued, number {ingest.queue_position} in line" if ingest.queue_position else None
            if ingest.decision is not None and ingest.decision.point not in announced:
                announced.add(ingest.decision.point)
                if console is not None:
                    console.print(f"[yellow]Waiting for a decision:[/] {ingest.decision.question} "
                                  f"({' / '.join(ingest.decision.choices)}) — answer with "
                                  f"`amber decide {ingest.uuid} {ingest.decision.point} CHOICE`")
            progress.update(task, description=ingest.current_job or waiting or ingest.status.value,
                            total=ingest.file_count, completed=ingest.files_done)
            if ingest.status in TERMINAL:
                return ingest
            if time.monotonic() > deadline:
                raise IngestCommandError(f"timed out after {timeout:.0f}s; ingest {ingest.uuid} is {ingest.status}")
            await asyncio.sleep(0.5)


async def run_ingest(*, url: str, key: str, path: Path | None, name: str, location: str | None,
                     location_path: str | None, wait: bool, as_json: bool, timeout: float,
                     processing_config: str = DEFAULT_PROCESSING_CONFIG) -> int:
    console = None if as_json else Console(stderr=True)
    api = f"{url.rstrip('/')}/api/v1"
    transfers = TransferClient(api, token=key)
    ingests = IngestClient(api, token=key)
    storage = StorageClient(api, token=key)
    try:
        transfer = await start_transfer(transfers, path, name, location, location_path, processing_config)
        result: dict[str, Any] = {"transfer_id": str(transfer.uuid), "name": transfer.name,
                                  "processing_config": transfer.processing_config,
                                  "aip_id": str(transfer.ingest_uuid) if transfer.ingest_uuid else None,
                                  "status": transfer.status.value}
        if wait:
            ingest = await follow(transfers, ingests, transfer, console, timeout)
            if ingest is None:
                failed = await transfers.get_transfer(transfer.uuid)
                result.update(status="failed", error=failed.error)
            else:
                result.update(
                    aip_id=str(ingest.uuid), status=ingest.status.value, aip_path=ingest.aip_path,
                    aip_location_uuid=str(ingest.aip_location_uuid) if ingest.aip_location_uuid else None,
                    aip_size=ingest.aip_size, aip_sha256=ingest.aip_sha256, files=ingest.file_count,
                    error=ingest.error, warnings=[warning.message for warning in ingest.warnings],
                )
                if ingest.status == IngestStatus.stored and ingest.aip_location_uuid and ingest.aip_path:
                    location_read = await storage.get_location(ingest.aip_location_uuid)
                    result["aip_file"] = f"{location_read.path.rstrip('/')}/{ingest.aip_path}"
    except ServiceError as exc:
        raise IngestCommandError(str(exc)) from exc
    finally:
        for client in (transfers, ingests, storage):
            await client.aclose()
    if as_json:
        print(json.dumps(result))
    else:
        assert console is not None
        console.print_json(json.dumps(result))
    return 1 if result["status"] in {"failed", "rejected"} else 0


async def answer(*, url: str, key: str, ingest_uuid: str, point: str, choice: str) -> IngestRead:
    async with IngestClient(f"{url.rstrip('/')}/api/v1", token=key) as ingests:
        return await ingests.answer_decision(UUID(ingest_uuid), DecisionAnswer(point=point, choice=choice))


async def cancel(*, url: str, key: str, ingest_uuid: str) -> IngestRead:
    async with IngestClient(f"{url.rstrip('/')}/api/v1", token=key) as ingests:
        return await ingests.cancel_ingest(UUID(ingest_uuid))


async def retry(*, url: str, key: str, ingest_uuid: str) -> IngestRead:
    async with IngestClient(f"{url.rstrip('/')}/api/v1", token=key) as ingests:
        return await ingests.retry_ingest(UUID(ingest_uuid))


async def clean_up(*, url: str, key: str, ingest_uuid: str, transfer: bool) -> CleanUpRead:
    async with IngestClient(f"{url.rstrip('/')}/api/v1", token=key) as ingests:
        return await ingests.clean_up_ingest(UUID(ingest_uuid), transfer=transfer)
