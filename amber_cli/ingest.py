"""`amber ingest`: start a transfer through the gateway and, on request, follow it to a stored AIP.

The CLI speaks to the gateway with the services' own typed clients: the gateway serves each service's
operations under `/api/v1`, and accepts the user's API key as a bearer token.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clients.events import EventRead, EventsClient
from clients.ingest import FINAL_STATUSES, CleanUpRead, DecisionAnswer, IngestClient, IngestRead, IngestStatus
from clients.ingest.schemas import DEFAULT_PROCESSING_CONFIG
from clients.storage import StorageClient
from clients.transfer import TransferClient, TransferFromLocation, TransferRead
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


FINAL_EVENTS = {f"ingest.{status.value}.v1" for status in FINAL_STATUSES}
BATCH_JOB_PREFIX = "batch-"  # the per-batch jobs of the files' micro-services
TRANSFER_ENDS = {"transfer.failed.v1", "transfer.rejected.v1"}


class Follower:
    """What `--wait` shows of an ingest's events: each micro-service job as it runs, with files done / total."""

    def __init__(self, console: Console | None, progress: Progress) -> None:
        self.console = console
        self.progress = progress
        self.task = progress.add_task("waiting for the transfer", total=None)
        self.files_announced = False

    def say(self, text: str) -> None:
        if self.console is not None:
            self.progress.console.print(text, soft_wrap=True)

    def show(self, event: EventRead) -> None:
        data = event.payload
        if event.type == "transfer.awaiting_approval.v1":
            self.say(f"Transfer {event.subject} is waiting for approval")
        elif event.type == "ingest.queued.v1":
            self.progress.update(self.task, description="queued")
        elif event.type == "ingest.started.v1":
            self.say(f"Ingest {event.subject} started")
        elif event.type == "ingest.progress.v1":
            self.job(data)
        elif event.type == "ingest.awaiting_decision.v1":
            self.progress.update(self.task, description="waiting for a decision")
            self.say(f"[yellow]Waiting for a decision:[/] {data.get('question')} "
                     f"({' / '.join(data.get('choices') or [])}) — answer with "
                     f"`amber decide {event.subject} {data.get('point')} CHOICE`")

    def job(self, data: dict[str, Any]) -> None:
        done, total = data.get("job_files_done"), data.get("job_files_total")
        counts = f" ({done}/{total} files)" if total else ""
        label = f"{data.get('microservice')}: {data.get('job_name')}"
        files_done, file_count = data.get("files_done") or 0, data.get("file_count")
        self.progress.update(self.task, description=label, total=file_count, completed=files_done)
        if data.get("job_status") == "failed":
            self.say(f"[red]✗[/] {label}{counts}")
        elif data.get("job_status") != "completed":
            return
        elif not str(data.get("job", "")).startswith(BATCH_JOB_PREFIX):
            self.say(f"[green]✓[/] {label}{counts}")
        elif file_count and files_done >= file_count and not self.files_announced:
            # Batches run side by side: one line once every file is through, the bar shows the way there.
            self.files_announced = True
            self.say(f"[green]✓[/] {data.get('microservice')}: scan, identify, validate, characterize "
                     f"({files_done}/{file_count} files)")


async def follow(transfers: TransferClient, ingests: IngestClient, events: EventsClient, transfer: TransferRead,
                 console: Console | None, timeout: float) -> IngestRead | None:
    """Follow the transfer's events (its ingest's name it as related) from the start of the log until the ingest
    ends; None when the transfer itself failed or was rejected."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, disable=console is None, transient=True)

    async def until_the_end() -> IngestRead | None:
        with progress:
            follower = Follower(console, progress)
            async for event in events.follow(packages=[transfer.uuid], last_event_id=0):
                follower.show(event)
                if event.type in TRANSFER_ENDS:
                    return None
                if event.type in FINAL_EVENTS and event.subject is not None:
                    return await ingests.get_ingest(event.subject)
        raise AssertionError("the event stream does not end")

    try:
        return await asyncio.wait_for(until_the_end(), timeout)
    except TimeoutError as exc:
        current = await transfers.get_transfer(transfer.uuid)
        raise IngestCommandError(f"timed out after {timeout:.0f}s; transfer {transfer.uuid} is "
                                 f"{current.status.value}") from exc


def summary(result: dict[str, Any]) -> str:
    """The end of `amber ingest --wait` for a person: status, AIP, where it is stored, warnings."""
    status = result["status"]
    colour = "green" if status == "stored" else ("yellow" if status in {"backlogged", "cancelled"} else "red")
    lines = [f"[{colour}]{status.capitalize()}[/]: {result.get('name')} (transfer {result['transfer_id']})"]
    if result.get("aip_id"):
        lines.append(f"  AIP        {result['aip_id']}")
    if result.get("files") is not None:
        lines.append(f"  files      {result['files']}")
    if result.get("aip_size") is not None:
        lines.append(f"  size       {result['aip_size']:,} bytes")
    if result.get("aip_file") or result.get("aip_path"):
        lines.append(f"  stored at  {result.get('aip_file') or result.get('aip_path')}")
    if result.get("error"):
        lines.append(f"  reason     {result['error']}")
    lines += [f"  [yellow]warning[/]    {warning}" for warning in result.get("warnings") or []]
    return "\n".join(lines)


async def run_ingest(*, url: str, key: str, path: Path | None, name: str, location: str | None,
                     location_path: str | None, wait: bool, as_json: bool, timeout: float,
                     processing_config: str = DEFAULT_PROCESSING_CONFIG) -> int:
    console = None if as_json else Console(stderr=True)
    api = f"{url.rstrip('/')}/api/v1"
    transfers = TransferClient(api, token=key)
    ingests = IngestClient(api, token=key)
    storage = StorageClient(api, token=key)
    events = EventsClient(api, token=key)
    try:
        transfer = await start_transfer(transfers, path, name, location, location_path, processing_config)
        result: dict[str, Any] = {"transfer_id": str(transfer.uuid), "name": transfer.name,
                                  "processing_config": transfer.processing_config,
                                  "aip_id": str(transfer.ingest_uuid) if transfer.ingest_uuid else None,
                                  "status": transfer.status.value}
        if wait:
            ingest = await follow(transfers, ingests, events, transfer, console, timeout)
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
        for client in (transfers, ingests, storage, events):
            await client.aclose()
    if as_json:
        print(json.dumps(result))
    else:
        assert console is not None
        Console().print(summary(result), soft_wrap=True)
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
