"""`amber ingest`: start a transfer through the gateway and, on request, follow it to a stored AIP."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from amber_cli.upload import archive_format, file_stream, tar_stream

TERMINAL = {"stored", "failed"}


class GatewayError(Exception):
    pass


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            body = response.json()
            message = f"{body.get('title', response.reason_phrase)}: {body.get('detail', '')}"
        except ValueError:
            message = response.text[:500]
        raise GatewayError(f"{response.request.method} {response.request.url.path} → {response.status_code} {message}")
    result: dict[str, Any] = response.json()
    return result


async def start_transfer(http: httpx.AsyncClient, path: Path | None, name: str, location: str | None,
                         location_path: str | None) -> dict[str, Any]:
    if location is not None:
        body = {"name": name, "location_uuid": location, "path": location_path}
        return _check(await http.post("/api/v1/transfers", json=body))
    assert path is not None
    if path.is_dir():
        kind, content = "tar", tar_stream(path, path.name)
    else:
        detected = archive_format(path)
        if detected is None:
            raise GatewayError(f"{path} is neither a folder nor a .zip/.tar/.tar.gz/.tgz archive")
        kind, content = detected, file_stream(path)
    response = await http.post(
        "/api/v1/transfers/upload", params={"name": name, "archive_format": kind}, content=content,
        headers={"Content-Type": "application/octet-stream"},
    )
    return _check(response)


async def follow(http: httpx.AsyncClient, transfer: dict[str, Any], console: Console | None,
                 timeout: float) -> dict[str, Any]:
    """Poll the ingest until it is stored or failed, showing jobs and files done."""
    ingest_uuid = transfer.get("ingest_uuid")
    deadline = time.monotonic() + timeout
    while ingest_uuid is None:
        transfer = _check(await http.get(f"/api/v1/transfers/{transfer['uuid']}"))
        if transfer.get("status") == "failed":
            return {"status": "failed", "error": transfer.get("error")}
        ingest_uuid = transfer.get("ingest_uuid")
        if time.monotonic() > deadline:
            raise GatewayError("timed out waiting for the transfer to reach ingest")
        await asyncio.sleep(0.5)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, disable=console is None, transient=True)
    with progress:
        task = progress.add_task("queued", total=None)
        while True:
            ingest = _check(await http.get(f"/api/v1/ingests/{ingest_uuid}"))
            progress.update(task, description=ingest.get("current_job") or ingest["status"],
                            total=ingest.get("file_count"), completed=ingest.get("files_done", 0))
            if ingest["status"] in TERMINAL:
                return ingest
            if time.monotonic() > deadline:
                raise GatewayError(f"timed out after {timeout:.0f}s; ingest {ingest_uuid} is {ingest['status']}")
            await asyncio.sleep(0.5)


def summary(transfer: dict[str, Any], ingest: dict[str, Any]) -> dict[str, Any]:
    return {
        "transfer_id": transfer["uuid"],
        "aip_id": ingest.get("uuid"),
        "name": transfer.get("name"),
        "status": ingest.get("status"),
        "aip_path": ingest.get("aip_path"),
        "aip_location_uuid": ingest.get("aip_location_uuid"),
        "aip_size": ingest.get("aip_size"),
        "aip_sha256": ingest.get("aip_sha256"),
        "files": ingest.get("file_count"),
        "error": ingest.get("error"),
    }


async def run_ingest(*, url: str, auth: str, path: Path | None, name: str, location: str | None,
                     location_path: str | None, wait: bool, as_json: bool, timeout: float) -> int:
    console = None if as_json else Console(stderr=True)
    timeouts = httpx.Timeout(60.0, connect=10.0, write=None, read=600.0)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": auth}, timeout=timeouts) as http:
        transfer = await start_transfer(http, path, name, location, location_path)
        if not wait:
            result = {"transfer_id": transfer["uuid"], "aip_id": transfer.get("ingest_uuid"),
                      "status": transfer.get("status")}
        else:
            ingest = await follow(http, transfer, console, timeout)
            result = summary(transfer, ingest)
            if ingest.get("status") == "stored" and ingest.get("aip_location_uuid"):
                location = _check(await http.get(f"/api/v1/locations/{ingest['aip_location_uuid']}"))
                result["aip_file"] = f"{location['path'].rstrip('/')}/{ingest['aip_path']}"
    if as_json:
        print(json.dumps(result))
    else:
        assert console is not None
        console.print_json(json.dumps(result))
    return 0 if result.get("status") in {"stored", "ingesting", "received", "queued", "processing"} else 1
