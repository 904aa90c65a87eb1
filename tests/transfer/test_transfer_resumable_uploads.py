"""Resumable uploads: chunks at offsets, a broken connection resumed, SHA-256 verified (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.transfer import TransferStatus, UploadSessionCreate
from servicekit.http import ServiceError
from services.transfer.uploads import digests
from services.transfer.uploads import service as uploads
from tests.transfer.harness import files_under, make_zip, some_bytes, transfer_stack

BIG = some_bytes(300_000, seed=7)
ARCHIVE = make_zip({"box/big.bin": BIG, "box/small.txt": b"small"})
SHA = hashlib.sha256(ARCHIVE).hexdigest()


class Broken(Exception):
    pass


async def breaking(data: bytes, after: int) -> AsyncIterator[bytes]:
    """Sends `after` bytes in pieces, then the connection 'breaks'."""
    for start in range(0, after, 10_000):
        yield data[start:min(start + 10_000, after)]
    # A real connection breaks long after its first bytes arrived: give the server time to take them in
    # (an abort right away may reset the socket before the server has read what was sent).
    await asyncio.sleep(0.5)
    raise Broken


async def test_an_interrupted_upload_resumes_and_completes_verified(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive_file = tmp_path / "box.zip"
    archive_file.write_bytes(ARCHIVE)
    async with transfer_stack(db_engine, tmp_path, temporal_env, real_http=True) as stack:
        session = await stack.client.create_upload_session(
            UploadSessionCreate(name="resumed", size=len(ARCHIVE), sha256=SHA, filename="box.zip")
        )
        assert session.offset == 0
        half = len(ARCHIVE) // 2
        with pytest.raises(Exception):  # noqa: B017 - whatever the transport makes of the broken body
            await stack.client.put_upload_chunk(
                session.uuid, 0, breaking(ARCHIVE, half), length=len(ARCHIVE), total=len(ARCHIVE)
            )
        # The server notices the broken connection on its own time; what reached it is kept.
        for _attempt in range(100):
            offset = (await stack.client.get_upload_session(session.uuid)).offset
            if offset:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # let the interrupted request finish and free the session
        assert 0 < offset <= half

        # Re-sending bytes already there is harmless; a chunk beyond the offset is refused with the offset.
        resent = await stack.client.put_upload_chunk(
            session.uuid, 0, ARCHIVE[:offset], length=offset, total=len(ARCHIVE)
        )
        assert resent.offset == offset
        with pytest.raises(ServiceError) as gap:
            await stack.client.put_upload_chunk(
                session.uuid, offset + 10, ARCHIVE[offset + 10:], length=len(ARCHIVE) - offset - 10,
                total=len(ARCHIVE),
            )
        assert gap.value.status == 409 and f"send from {offset}" in str(gap.value)
        with pytest.raises(ServiceError) as early:
            await stack.client.complete_upload_session(session.uuid)
        assert early.value.status == 409

        made = await stack.client.resume_upload(archive_file, session)
        assert made.status is TransferStatus.ingesting and made.source == "box.zip"
        assert files_under(stack.transfer_dir(made.uuid)) == {"objects/big.bin": BIG, "objects/small.txt": b"small"}
        done = await stack.client.get_upload_session(session.uuid)
        assert done.transfer_uuid == made.uuid
        assert stack.leftovers() == [f"transfers/{made.uuid}"]

        # The same file in one go through the helper, this time waiting for approval.
        other = await stack.client.upload_resumable("whole", archive_file, auto_approve=False)
        assert other.status is TransferStatus.awaiting_approval


async def test_a_wrong_checksum_is_refused_naming_both_and_sessions_can_be_abandoned(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        wrong = "0" * 64
        session = await stack.client.create_upload_session(
            UploadSessionCreate(name="wrong", size=len(ARCHIVE), sha256=wrong)
        )
        middle = len(ARCHIVE) // 3
        await stack.client.put_upload_chunk(session.uuid, 0, ARCHIVE[:middle], length=middle, total=len(ARCHIVE))
        response = await stack.http.put(
            f"/uploads/{session.uuid}", params={"offset": middle}, content=ARCHIVE[middle:]
        )
        assert response.status_code == 200 and response.json()["offset"] == len(ARCHIVE)
        refused = await stack.http.post(f"/uploads/{session.uuid}/complete")
        assert refused.status_code == 422
        problem = refused.json()
        assert problem["errors"] == [{"expected": wrong, "actual": SHA}]
        assert f"SHA-256 is {SHA} but {wrong} was expected" in problem["detail"]
        assert (await stack.client.get_upload_session(session.uuid)).offset == 0
        assert (await stack.client.list_transfers()).total == 0

        await stack.client.delete_upload_session(session.uuid)
        with pytest.raises(ServiceError) as gone:
            await stack.client.get_upload_session(session.uuid)
        assert gone.value.status == 404
        assert stack.leftovers() == []


async def test_completing_uses_the_digest_taken_as_the_chunks_arrived(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    real_sha256_of = uploads.sha256_of

    def counted_sha256_of(path: Path) -> str:
        reads.append(path)
        return real_sha256_of(path)

    monkeypatch.setattr(uploads, "sha256_of", counted_sha256_of)
    third = len(ARCHIVE) // 3
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:

        async def send_in_three(name: str, *, restart_after: int | None = None) -> TransferStatus:
            session = await stack.client.create_upload_session(
                UploadSessionCreate(name=name, size=len(ARCHIVE), sha256=SHA)
            )
            for index, start in enumerate(range(0, len(ARCHIVE), third)):
                piece = ARCHIVE[start:start + third]
                await stack.client.put_upload_chunk(session.uuid, start, piece, length=len(piece),
                                                    total=len(ARCHIVE))
                if index == restart_after:
                    # What a restart of the service forgets: the digests live in its memory only.
                    digests.forget(session.uuid)
            return (await stack.client.complete_upload_session(session.uuid)).status

        # Every chunk seen by this process: verified without reading the file again.
        assert await send_in_three("seen whole") is TransferStatus.ingesting
        assert reads == []
        # Chunks from before a restart: the file is read and hashed, as before.
        assert await send_in_three("restarted", restart_after=0) is TransferStatus.ingesting
        assert len(reads) == 1
