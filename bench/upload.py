"""Benchmark: a large resumable upload through the gateway, broken off halfway, resumed and completed.

Makes an uncompressed tar of one file of SIZE bytes, opens an upload session (size + SHA-256), sends the first
half and aborts the connection, asks the server for its offset, sends the rest from there and completes the
upload: the server verifies the SHA-256 and extracts the archive into a transfer (kept waiting for approval,
then rejected, so no ingest runs). The baseline is `dd` writing the same number of bytes in the same run.
The transfer service's peak RSS (with its children) is sampled throughout. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from process_watch import RssSampler

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack
from clients.transfer import ArchiveFormat, TransferClient, TransferStatus, UploadSessionCreate, file_stream

BLOCK = 1024 * 1024
RSS_LIMIT_MB = 200


def make_archive(path: Path, size: int) -> str:
    """An uncompressed tar holding `big/data.bin` of `size` bytes that do not repeat; returns its SHA-256."""
    hasher = hashlib.sha256()
    seed = hashlib.sha256(b"amber upload bench").digest() * (BLOCK // 32)
    with path.open("wb") as out:

        def put(data: bytes) -> None:
            hasher.update(data)
            out.write(data)

        info = tarfile.TarInfo("big/data.bin")
        info.size, info.mode, info.mtime = size, 0o644, 1_700_000_000
        put(info.tobuf(format=tarfile.PAX_FORMAT))
        written = 0
        counter = 0
        while written < size:
            block = counter.to_bytes(8, "big") + seed[8:]
            block = block[: min(BLOCK, size - written)]
            put(block)
            written += len(block)
            counter += 1
        padding = (512 - size % 512) % 512
        put(b"\0" * (padding + 1024))
    return hasher.hexdigest()


def dd_baseline(path: Path, size: int) -> float:
    """MB/s of `dd` writing `size` bytes (flushed to disk, as the upload's bytes are by the end)."""
    started = time.perf_counter()
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={path}", f"bs={BLOCK}", f"count={size // BLOCK}", "conv=fdatasync"],
        check=True, capture_output=True,
    )
    seconds = time.perf_counter() - started
    path.unlink()
    return size / seconds / 1e6


class Aborted(Exception):
    pass


async def half_then_abort(path: Path, stop_at: int) -> AsyncIterator[bytes]:
    sent = 0
    async for chunk in file_stream(path):
        if sent + len(chunk) >= stop_at:
            yield chunk[: stop_at - sent]
            raise Aborted
        sent += len(chunk)
        yield chunk


@dataclass
class Figures:
    offset_at_resume: int
    upload_seconds: float
    complete_seconds: float
    total_seconds: float
    placed_bytes: int


async def run(stack: EphemeralStack, archive: Path, size: int, digest: str) -> Figures:
    key = json.loads((stack.data_dir / "credentials.json").read_text())["key"]
    client = TransferClient(f"{stack.gateway}/api/v1", token=key)
    try:
        session = await client.create_upload_session(UploadSessionCreate(
            name="bench-upload", size=size, sha256=digest, archive_format=ArchiveFormat.tar,
            filename=archive.name, auto_approve=False,
        ))
        started = aborted = time.perf_counter()
        try:
            await client.put_upload_chunk(session.uuid, 0, half_then_abort(archive, size // 2), length=size,
                                          total=size)
            raise SystemExit("the aborted request unexpectedly succeeded")
        except Exception as exc:  # the transport reports the abort in its own words
            aborted = time.perf_counter()
            print(f"connection aborted after {size // 2} bytes ({type(exc).__name__})")
        for _attempt in range(200):
            offset = (await client.get_upload_session(session.uuid)).offset
            if offset:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        offset = (await client.get_upload_session(session.uuid)).offset
        print(f"server kept {offset} bytes ({offset / size:.1%}); resuming from there")
        sending = time.perf_counter()
        await client.put_upload_chunk(
            session.uuid, offset, file_stream(archive, start=offset), length=size - offset, total=size
        )
        sent = time.perf_counter()
        transfer = await client.complete_upload_session(session.uuid)
        completed = time.perf_counter()
        # 201 from complete means the server's SHA-256 matched the one sent (a mismatch is a 422).
        assert transfer.status is TransferStatus.awaiting_approval, transfer
        rejected = await client.reject_transfer(transfer.uuid, "benchmark")
        assert rejected.status is TransferStatus.rejected
    finally:
        await client.aclose()
    return Figures(
        offset_at_resume=offset, upload_seconds=(aborted - started) + (sent - sending),
        complete_seconds=completed - sent,
        total_seconds=completed - started, placed_bytes=transfer.size,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=float, default=5.0, help="archive payload in GB (10^9 bytes)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    size = int(args.size * 1e9)
    with tempfile.TemporaryDirectory(prefix="amber-bench-upload-", dir=args.dir) as tmp:
        root = Path(tmp)
        archive = root / "bench.tar"
        made = time.perf_counter()
        digest = make_archive(archive, size)
        archive_size = archive.stat().st_size
        print(f"made a {archive_size / 1e9:.2f} GB tar in {time.perf_counter() - made:.1f} s, sha256 {digest}")
        dd_mb_s = dd_baseline(root / "dd.bin", archive_size)
        print(f"dd baseline: {dd_mb_s:.0f} MB/s writing {archive_size / 1e9:.2f} GB")
        with ephemeral_stack(root / "data") as stack:
            pid = stack.pid("transfer")
            sampler = RssSampler(lambda: {"transfer": pid}, every=0.05)
            sampler.start()
            try:
                figures = asyncio.run(run(stack, archive, archive_size, digest))
            finally:
                sampler.stop.set()
                sampler.join()
        upload_mb_s = archive_size / figures.upload_seconds / 1e6
        end_to_end = archive_size / figures.total_seconds / 1e6
        peak_mb = sampler.peak / 1e6
        print(f"upload through the gateway (both halves): {upload_mb_s:.0f} MB/s (dd: {dd_mb_s:.0f} MB/s); "
              f"completion (SHA-256 check + extraction): {figures.complete_seconds:.1f} s; "
              f"end to end {end_to_end:.0f} MB/s")
        print(f"transfer service peak RSS: {peak_mb:.1f} MB (limit {RSS_LIMIT_MB} MB)")
        result = {
            "bench": "upload",
            "bytes": archive_size,
            "interrupted_at": archive_size // 2,
            "resumed_from": figures.offset_at_resume,
            "checksum_verified": True,
            "placed_bytes_match": figures.placed_bytes == size,
            "upload_mb_s": round(upload_mb_s, 1),
            "end_to_end_mb_s": round(end_to_end, 1),
            "complete_seconds": round(figures.complete_seconds, 2),
            "dd_mb_s": round(dd_mb_s, 1),
            "ratio_to_dd": round(upload_mb_s / dd_mb_s, 2),
            "transfer_peak_rss_mb": round(peak_mb, 1),
            "rss_under_limit": peak_mb < RSS_LIMIT_MB,
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
