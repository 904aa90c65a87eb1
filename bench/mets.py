"""Benchmark: the AIP METS of N files with 5 events each, through the real metadata service over HTTP.

The service runs in a process of its own (uvicorn, `services.metadata.main:create_app`, SQLite in a temporary
data directory unless `--database-url` is given). The bench loads the records through the service's bulk
endpoints with the typed client (load time reported separately), then streams `GET /mets/{uuid}` to a file.
`seconds` is the METS generation (first byte requested to last byte written); `peak_rss_mb` the service
process's peak resident memory (the kernel's high-water mark, VmHWM) in a service process started afresh
after loading, so that it measures the METS generation alone. The baseline is
the same-run time to merely *read* the document back with lxml's iterparse, i.e. the cost of touching every
byte of a document that size once. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from lxml import etree
from sqlalchemy.engine import make_url

from clients.metadata import AgentRecord, EventRecord, FileRecord, MetadataClient, PackageUpsert
from servicekit.ids import derived_id

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
AGENTS = [
    AgentRecord(identifier_type="preservation system", identifier_value="Amber-bench", name="Amber",
                agent_type="software"),
    AgentRecord(identifier_type="repository code", identifier_value="bench", name="Bench", agent_type="organization"),
    AgentRecord(identifier_type="Amber user", identifier_value="admin", name='username="admin"',
                agent_type="Amber user"),
]
EVENT_TYPES = (
    ("ingestion", "", "", ""),
    ("message digest calculation", 'program="python"; module="hashlib.sha256()"', "", None),
    ("virus check", 'program="ClamAV (clamd)"; version="ClamAV 1.0"', "Pass", ""),
    ("format identification", 'program="Siegfried"; version="1.11.1"', "Positive", "fmt/101"),
    ("validation", 'program="JHOVE"; version="1.26"', "pass", 'format="XML"; result="Well-Formed"'),
)
BASE = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def records(package_uuid: uuid.UUID, start: int, count: int) -> list[FileRecord]:
    out = []
    for index in range(start, start + count):
        path = f"objects/series-{index % 20:02d}/box-{index % 97:03d}/item-{index:06d}.xml"
        file_uuid = derived_id(package_uuid, path)
        checksum = hashlib.sha256(path.encode()).hexdigest()
        events = [
            EventRecord(
                uuid=derived_id(file_uuid, kind), type=kind, datetime=BASE + timedelta(seconds=n), detail=detail,
                outcome=outcome, outcome_note=checksum if note is None else note, agents=AGENTS,
            )
            for n, (kind, detail, outcome, note) in enumerate(EVENT_TYPES)
        ]
        out.append(FileRecord(
            uuid=file_uuid, path=path, original_name=f"%transferDirectory%{path}", size=1000 + index,
            checksum=checksum, format_name="Extensible Markup Language", format_version="1.0", puid="fmt/101",
            format_basis="extension match xml", modified_at=BASE, events=events,
        ))
    return out


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def start_service(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "services.metadata.main:create_app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env,
    )


async def wait_healthy(port: int) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("the metadata service did not start")


async def run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    port = free_port()
    env = {**os.environ, "AMBER_DATA_DIR": str(work / "data"), "AMBER_INTERNAL_TOKEN": TOKEN,
           "AMBER_LOG_LEVEL": "WARNING"}
    if args.database_url:
        env["AMBER_METADATA_DATABASE_URL"] = args.database_url
    server = start_service(env, port)
    try:
        await wait_healthy(port)
        client = MetadataClient(f"http://127.0.0.1:{port}", token=TOKEN, timeout=600)
        package_uuid = uuid.uuid4()
        await client.upsert_package(package_uuid, PackageUpsert(name="bench"))
        print(f"loading {args.files} files x 5 events (batches of {args.batch}) ...", flush=True)
        started = time.perf_counter()
        # Build the next batch while the service writes the current one (the bench's own work is not the
        # service's).
        pending: asyncio.Task[object] | None = None
        for start in range(0, args.files, args.batch):
            batch = records(package_uuid, start, min(args.batch, args.files - start))
            if pending is not None:
                await pending
            pending = asyncio.create_task(client.add_files(package_uuid, batch))
        if pending is not None:
            await pending
        load_seconds = time.perf_counter() - started
        load_peak_mb = rss_kb(server.pid, "VmHWM") / 1024
        print(f"loaded in {load_seconds:.1f}s ({args.files / load_seconds:.0f} files/s), "
              f"service peak RSS {load_peak_mb:.0f} MB", flush=True)
        await client.aclose()

        # A fresh service process for the METS, so its peak RSS is the METS generation's own.
        server.terminate()
        server.wait(timeout=60)
        server = start_service(env, port)
        await wait_healthy(port)
        idle_mb = rss_kb(server.pid, "VmRSS") / 1024
        client = MetadataClient(f"http://127.0.0.1:{port}", token=TOKEN, timeout=600)
        dest = work / f"METS.{package_uuid}.xml"
        started = time.perf_counter()
        written = await client.download_mets(package_uuid, dest)
        seconds = time.perf_counter() - started
        peak_mb = rss_kb(server.pid, "VmHWM") / 1024
        print(f"METS: {written / 1e6:.0f} MB in {seconds:.1f}s ({args.files / seconds:.0f} files/s), "
              f"service RSS {idle_mb:.0f} MB idle, peak {peak_mb:.0f} MB", flush=True)
        await client.aclose()
    finally:
        server.terminate()
        server.wait(timeout=30)

    started = time.perf_counter()
    files = 0
    for _, element in etree.iterparse(str(dest), tag="{http://www.loc.gov/METS/}file", huge_tree=True):
        files += 1
        element.clear(keep_tail=False)
    baseline = time.perf_counter() - started
    print(f"baseline (iterparse of the same document): {baseline:.1f}s, {files} fileSec entries", flush=True)
    assert files == args.files, f"expected {args.files} files in the fileSec, found {files}"
    return {
        "bench": "mets",
        "files": args.files,
        "events_per_file": len(EVENT_TYPES),
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "files_per_s": round(args.files / seconds),
        "mets_mb": round(written / 1e6, 1),
        "load_seconds": round(load_seconds, 2),
        "load_files_per_s": round(args.files / load_seconds),
        "load_peak_rss_mb": round(load_peak_mb, 1),
        "idle_rss_mb": round(idle_mb, 1),
        "baseline_parse_seconds": round(baseline, 2),
        "ratio": round(seconds / baseline, 2) if baseline else None,
        "database": "postgresql" if args.database_url and args.database_url.startswith("postgres") else "sqlite",
    }


@contextlib.contextmanager
def scratch_database(url: str | None) -> Iterator[str | None]:
    """For PostgreSQL, a database of the bench's own (created and dropped), so nothing is left behind."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    name = f"amber_bench_mets_{uuid.uuid4().hex[:8]}"
    admin = make_url(url)
    server = [
        "psql", "-h", admin.host or "127.0.0.1", "-p", str(admin.port or 5432), "-U", admin.username or "postgres",
        "-d", admin.database or "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c",
    ]
    subprocess.run([*server, f'CREATE DATABASE "{name}"'], check=True)
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        subprocess.run([*server, f'DROP DATABASE "{name}"'], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL server to use (a scratch database is created on it and dropped), e.g. "
                        "postgresql+asyncpg://postgres@127.0.0.1/test; default SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amber-bench-mets-") as tmp, scratch_database(args.database_url) as url:
        args.database_url = url
        figures = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
