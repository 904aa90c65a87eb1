"""A disk filling up mid-transfer fails the transfer with the reason and leaves no partial copy.

The processing folder is a real 1 MiB tmpfs when this process may mount one (root in a container with the
capability), so the kernel itself answers ENOSPC; otherwise the write layer raises the same OSError.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.transfer import TransferFromLocation, TransferStatus
from services.transfer.transfers import archives, layout
from tests.transfer.harness import make_tar, make_zip, some_bytes, transfer_stack

DATA = some_bytes(700_000, seed=3)


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    processing = tmp_path / "amber" / "processing"
    processing.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(processing)], capture_output=True, check=False
    ).returncode == 0
    if not mounted:
        real_write_file = archives.write_file
        real_copy_file = layout.copy_file

        def full_write(staging: Path, parts: tuple[str, ...], name: str, source: IO[bytes], size: int,
                       mtime: float) -> None:
            real_write_file(staging, parts, name, source, size, mtime)
            raise OSError(errno.ENOSPC, "No space left on device")

        def full_copy(source: Path, destination: Path) -> int:
            real_copy_file(source, destination)
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(archives, "write_file", full_write)
        monkeypatch.setattr(layout, "copy_file", full_copy)
    try:
        yield "tmpfs" if mounted else "fault injection"
    finally:
        if mounted:
            subprocess.run(["umount", str(processing)], check=False)


async def test_a_full_disk_fails_the_transfer_and_keeps_nothing(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment, small_disk: str
) -> None:
    print(f"disk full produced by: {small_disk}")
    source = tmp_path / "source" / "big"
    source.mkdir(parents=True)
    (source / "one.bin").write_bytes(DATA)
    (source / "two.bin").write_bytes(DATA)
    archive = make_zip({"box/one.bin": DATA}, compression=0)
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        response = await stack.http.post("/transfers/upload", params={"name": "too big"}, content=archive)
        assert response.status_code == 507, response.text
        assert "no space left on device" in response.json()["detail"]
        assert stack.leftovers() == []

        # A tar is extracted as it arrives: the disk fills up while the body is still coming.
        tarred = await stack.http.post("/transfers/upload", params={"name": "too big tar"},
                                       content=make_tar([("box/one.bin", DATA), ("box/two.bin", DATA)]))
        assert tarred.status_code == 507, tarred.text
        assert "no space left on device" in tarred.json()["detail"]
        assert stack.leftovers() == []

        (location,) = [loc for loc in await stack.storage.list_locations() if loc.purpose == "transfer_source"]
        copied = await stack.http.post("/transfers", json=TransferFromLocation(
            name="too big too", location_uuid=location.uuid, path="big"
        ).model_dump(mode="json"))
        assert copied.status_code == 507, copied.text
        assert stack.leftovers() == []
        failed = (await stack.client.list_transfers(TransferStatus.failed)).items
        assert len(failed) == 3
        assert all("no space left on device" in (item.error or "") for item in failed)
