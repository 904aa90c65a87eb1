"""Benchmark: how long each main dashboard page takes with N AIPs stored (default 1,000; the target is < 1 s).

A whole stack is started (`amber up` on free ports). One real transfer is ingested (so one AIP has a full PREMIS
record and a search entry); the other AIPs are stored directly against the storage service with the stack's
internal token, as the ingest worker stores them (a real 7z of a real bag each, made once and stored under N
UUIDs). Each page is then fetched through the gateway as a signed-in admin, as a browser would (cookie, no key),
several times; the slowest and the median are reported. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack
from clients.storage import StorageClient

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "demo-transfer"


def tiny_aip(root: Path) -> tuple[Path, str]:
    bag = root / "bench-bag"
    (bag / "data" / "objects").mkdir(parents=True)
    payload = b"a stored object\n"
    (bag / "data" / "objects" / "object.txt").write_bytes(payload)
    (bag / "bagit.txt").write_text("BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n")
    (bag / "manifest-sha256.txt").write_text(f"{hashlib.sha256(payload).hexdigest()}  data/objects/object.txt\n")
    archive = root / "bench-bag.7z"
    subprocess.run(["7z", "a", "-bd", "-t7z", "-y", "-mx=0", str(archive), bag.name], cwd=root, check=True,
                   capture_output=True)
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


async def store_many(stack: EphemeralStack, archive: Path, digest: str, count: int) -> list[uuid.UUID]:
    token = (stack.data_dir / "internal-token").read_text().strip()
    url = f"http://127.0.0.1:{stack.env['AMBER_STORAGE_PORT']}"
    uuids = [uuid.uuid4() for _ in range(count)]
    gate = asyncio.Semaphore(8)
    async with StorageClient(url, token=token, retries=0) as client:

        async def one(aip_uuid: uuid.UUID) -> None:
            async with gate:
                package = await client.store_aip(aip_uuid, f"bench-{aip_uuid.hex[:8]}", digest, archive)
                assert package.status == "stored", package

        await asyncio.gather(*(one(u) for u in uuids))
    return uuids


def signed_in(stack: EphemeralStack) -> httpx.Client:
    username, key = stack.auth.removeprefix("ApiKey ").split(":", 1)
    browser = httpx.Client(base_url=stack.gateway, timeout=60)
    form = browser.get("/dashboard/sign-in").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form)
    assert nonce
    answer = browser.post("/dashboard/sign-in", data={"username": username, "key": key, "nonce": nonce.group(1)})
    assert answer.status_code == 303, answer.text
    return browser


def timed(browser: httpx.Client, path: str, rounds: int) -> dict[str, float]:
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = browser.get(path)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return {"median_s": round(statistics.median(seconds), 3), "max_s": round(max(seconds), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aips", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, ephemeral_stack(Path(scratch) / "data") as stack:
        ingested = json.loads(stack.amber("ingest", str(SAMPLE), "--wait", "--json").stdout)
        archive, digest = tiny_aip(Path(scratch))
        started = time.perf_counter()
        seeded = asyncio.run(store_many(stack, archive, digest, args.aips - 1))
        print(f"stored {len(seeded)} AIPs directly in {time.perf_counter() - started:.1f} s")
        browser = signed_in(stack)
        pages = [
            "/dashboard/processing", "/dashboard/transfers", "/dashboard/transfers/new", "/dashboard/aips",
            "/dashboard/aips?offset=950", "/dashboard/aips?q=demo", f"/dashboard/aips/{ingested['aip_id']}",
            f"/dashboard/aips/{seeded[0]}", f"/dashboard/ingests/{ingested['aip_id']}", "/dashboard/deletions",
            "/dashboard/admin/users", "/dashboard/admin/locations", "/dashboard/admin/processing-configurations",
            "/dashboard/admin/processing-configurations/default", "/dashboard/admin/format-rules", "/docs",
        ]
        results = {}
        for path in pages:
            results[path] = timed(browser, path, args.rounds)
            print(f"{path:60s} median {results[path]['median_s']:.3f} s, max {results[path]['max_s']:.3f} s")
        slowest = max(r["max_s"] for r in results.values())
        print(json.dumps({"aips": args.aips, "rounds": args.rounds, "slowest_s": slowest, "pages": results}))


if __name__ == "__main__":
    main()
