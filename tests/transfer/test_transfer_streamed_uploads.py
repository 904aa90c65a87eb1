"""A tar or tar.gz upload is extracted while it arrives, never spooled whole first, with every refusal intact."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.transfer import TransferStatus
from tests.transfer.harness import (
    AUTH,
    chunked,
    files_under,
    make_tar,
    some_bytes,
    tar_header,
    transfer_stack,
)

ALPHA = some_bytes(70_000, seed=11)
BETA = some_bytes(3_000, seed=12)


class Collecting(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def logged() -> Iterator[list[logging.LogRecord]]:
    """What the services' error handling logs (the app replaced the root handlers, and pytest's with them)."""
    handler = Collecting(logging.INFO)
    logger = logging.getLogger("servicekit.problems")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_tar_is_extracted_while_it_arrives_and_never_spooled(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive = make_tar([("box/", None), ("box/first.bin", ALPHA), ("box/second.bin", BETA)])
    # Past the first 10 KiB record (tar reads whole records), which holds the first file's header; far from the end.
    cut = 40_000
    assert archive.index(ALPHA) < 10_240 and cut < len(archive) - 30_000
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:

        async def body() -> AsyncIterator[bytes]:
            yield archive[:cut]
            # The rest is held back until the first file is on disk: only an extraction that runs as the bytes
            # arrive gets there (a spooling receiver would wait for the rest for ever).
            async with asyncio.timeout(30):
                while not list(stack.uploads_dir.glob("*.extract/box/first.bin")):
                    assert not list(stack.uploads_dir.glob("*.upload")), "the upload was spooled"
                    await asyncio.sleep(0.01)
            yield archive[cut:]

        response = await stack.http.post("/transfers/upload", params={"name": "Box"}, content=body())
        assert response.status_code == 201, response.text
        transfer = response.json()
        assert transfer["source"] == "Box.tar"
        assert (transfer["file_count"], transfer["size"]) == (2, len(ALPHA) + len(BETA))
        assert files_under(stack.transfer_dir(transfer["uuid"])) == {
            "objects/first.bin": ALPHA, "objects/second.bin": BETA,
        }
        assert stack.leftovers() == [f"transfers/{transfer['uuid']}"]


async def test_without_a_length_the_ratio_is_checked_once_the_archive_has_ended(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    bomb = make_tar([("box/ok.txt", b"fine"), ("box/zeros.bin", b"\0" * 400_000)], gzip=True)
    fine = make_tar([("box/ok.txt", b"fine"), ("box/data.bin", some_bytes(400_000, seed=13))], gzip=True)
    async with transfer_stack(db_engine, tmp_path, temporal_env, max_ratio=50) as stack:
        refused = await stack.http.post("/transfers/upload", params={"name": "bomb"}, content=chunked(bomb, 4096))
        assert refused.status_code == 422, refused.text
        assert f"expands more than 50 times its size of {len(bomb)} bytes" in refused.json()["detail"]
        assert stack.leftovers() == []
        (failed,) = (await stack.client.list_transfers()).items
        assert failed.status is TransferStatus.failed

        accepted = await stack.http.post("/transfers/upload", params={"name": "fine"}, content=chunked(fine, 4096))
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["source"] == "fine.tar.gz"


async def test_a_refusal_early_in_a_long_upload_is_heard_once_it_has_all_been_sent(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    # Refused at its second entry, with 4 MB still to come: the receiver reads the rest before it answers, so a
    # client that sends it all hears the problem instead of a broken connection.
    archive = make_tar([
        ("box/ok.txt", b"fine"), tar_header("box/passwd", tarfile.SYMTYPE, "/etc/passwd"),
        ("box/big.bin", some_bytes(4_000_000, seed=14)),
    ])
    async with transfer_stack(db_engine, tmp_path, temporal_env, real_http=True) as stack:
        response = await stack.http.post("/transfers/upload", params={"name": "linked"},
                                         content=chunked(archive, 65_536))
        assert response.status_code == 422, response.text
        assert "Entry 'box/passwd' is a symbolic link to '/etc/passwd'" in response.json()["detail"]
        assert stack.leftovers() == []


class SenderGaveUp(Exception):
    pass


async def test_an_upload_broken_off_midway_leaves_no_record_and_no_file(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive = make_tar([("box/a.bin", some_bytes(2_000_000, seed=15)), ("box/b.bin", some_bytes(2_000_000, seed=16))])
    with logged() as records:
        async with transfer_stack(db_engine, tmp_path, temporal_env, real_http=True) as stack:

            async def broken() -> AsyncIterator[bytes]:
                async for chunk in chunked(archive[:2_500_000], 65_536):
                    yield chunk
                # Given up once the receiver is extracting: the transfer's record and files exist by then.
                async with asyncio.timeout(30):
                    while not list(stack.uploads_dir.glob("*.extract/box/a.bin")):
                        await asyncio.sleep(0.01)
                raise SenderGaveUp

            async with httpx.AsyncClient(base_url=str(stack.http.base_url), headers=AUTH) as sender:
                with pytest.raises(SenderGaveUp):
                    await sender.post("/transfers/upload", params={"name": "broken"}, content=broken())
            # The receiver learns of the broken connection on its own time.
            async with asyncio.timeout(30):
                while stack.leftovers() or (await stack.client.list_transfers()).total:
                    await asyncio.sleep(0.05)
            # Nothing failed on the receiver's side: no error is logged for a sender that went away.
            assert [(r.levelname, r.getMessage()) for r in records] == [
                ("INFO", "the client went away during POST /transfers/upload"),
            ]
            # The name is free again, and a whole upload of it goes through.
            read = await stack.client.upload_transfer("broken", chunked(archive, 65_536))
            assert read.status is TransferStatus.ingesting
