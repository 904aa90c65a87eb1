"""Uploaded archives become laid-out transfers handed to the real ingest service (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.ingest import IngestClient
from clients.transfer import ArchiveFormat, TransferSourceKind, TransferStatus
from servicekit.http import ServiceError
from tests.transfer.harness import (
    INTERNAL_TOKEN,
    chunked,
    dead_url,
    files_under,
    folders_under,
    journal_of,
    make_tar,
    make_zip,
    some_bytes,
    transfer_stack,
)

ALPHA = some_bytes(70_000, seed=1)
BETA = some_bytes(3_000, seed=2)


async def test_zip_with_loose_files_lands_under_objects_and_is_handed_to_ingest(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive = make_zip({"alpha.bin": ALPHA, "docs/beta.txt": BETA, "empty/": None, "zeros.dat": b"\0" * 1000})
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        response = await stack.http.post(
            "/transfers/upload", params={"name": "Box 1", "filename": "box1.zip"}, content=archive,
            headers={"X-Amber-User": "alice", "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 201, response.text
        transfer = response.json()
        assert transfer["status"] == "ingesting"
        assert transfer["source_kind"] == "upload"
        assert transfer["source"] == "box1.zip"
        assert transfer["created_by"] == "alice"
        assert transfer["path"] == f"transfers/{transfer['uuid']}"
        assert (transfer["file_count"], transfer["size"]) == (3, len(ALPHA) + len(BETA) + 1000)
        assert transfer["error"] is None

        folder = stack.transfer_dir(transfer["uuid"])
        assert files_under(folder) == {
            "objects/alpha.bin": ALPHA, "objects/docs/beta.txt": BETA, "objects/zeros.dat": b"\0" * 1000,
        }
        assert folders_under(folder) == ["logs", "objects", "objects/docs", "objects/empty"]
        assert journal_of(folder) == [{"record": "empty_directory", "path": "objects/empty"}]
        mtime = datetime.fromtimestamp((folder / "objects" / "alpha.bin").stat().st_mtime)
        assert (mtime.year, mtime.month, mtime.day, mtime.hour, mtime.minute) == (2020, 5, 17, 12, 30)
        assert stack.leftovers() == [f"transfers/{transfer['uuid']}"]

        # The real ingest service holds the ingest the transfer points at.
        ingest = (await stack.ingest_http.get(f"/ingests/{transfer['ingest_uuid']}")).json()
        assert ingest["transfer_uuid"] == transfer["uuid"]
        assert ingest["path"] == transfer["path"]
        assert (ingest["name"], ingest["created_by"]) == ("Box 1", "alice")

        read = await stack.client.get_transfer(uuid.UUID(transfer["uuid"]))
        assert read.model_dump(mode="json") == transfer
        assert read.created_at.tzinfo is not None
        assert read.created_at <= read.updated_at <= datetime.now(UTC)


async def test_tar_with_one_top_folder_takes_that_folder_as_root(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive = make_tar([
        ("box/", None), ("box/alpha.bin", ALPHA), ("box/sub/", None), ("box/sub/beta.txt", BETA),
        ("box/empty/", None),
    ])
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        read = await stack.client.upload_transfer("Box", chunked(archive, 1000))
        assert read.status is TransferStatus.ingesting
        assert read.source == "Box.tar"
        folder = stack.transfer_dir(read.uuid)
        assert files_under(folder) == {"objects/alpha.bin": ALPHA, "objects/sub/beta.txt": BETA}
        assert folders_under(folder) == ["logs", "objects", "objects/empty", "objects/sub"]
        assert (folder / "objects" / "alpha.bin").stat().st_mtime == 1_600_000_000
        assert stack.leftovers() == [f"transfers/{read.uuid}"]


async def test_tar_without_top_folder_and_tar_gz_already_laid_out(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    flat = make_tar([("./", None), ("./alpha.bin", ALPHA), ("./metadata/", None), ("./metadata/m.csv", BETA)])
    laid_out = make_tar(
        [("objects/alpha.bin", ALPHA), ("metadata/m.csv", BETA), ("logs/", None), ("README", b"read me")],
        gzip=True,
    )
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        first = await stack.client.upload_transfer("Flat", chunked(flat, 4096), ArchiveFormat.tar)
        # Without objects/ the content goes under objects/, but metadata/ is a reserved name and stays.
        assert files_under(stack.transfer_dir(first.uuid)) == {
            "objects/alpha.bin": ALPHA, "metadata/m.csv": BETA,
        }
        second = await stack.client.upload_transfer("Laid out", chunked(laid_out, 4096))
        assert second.source == "Laid out.tar.gz"
        folder = stack.transfer_dir(second.uuid)
        assert files_under(folder) == {
            "objects/alpha.bin": ALPHA, "metadata/m.csv": BETA, "objects/README": b"read me",
        }
        assert folders_under(folder) == ["logs", "metadata", "objects"]
        # The loose README joined objects/, and the journal says so.
        moves = [r for r in journal_of(folder) if r["record"] == "event" and r["type"] == "filename change"]
        assert [(m["path"], m["outcome_note"]) for m in moves] == [
            ("objects/README", 'Original name="README"; new name="objects/README"')
        ]


async def test_folder_and_archive_file_uploaded_by_the_client(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    source = tmp_path / "Field notes"
    (source / "day 1").mkdir(parents=True)
    (source / "empty").mkdir()
    (source / "day 1" / "notes.txt").write_bytes(BETA)
    (source / "photo.tif").write_bytes(ALPHA)
    os.utime(source / "photo.tif", (1_500_000_000, 1_500_000_000))
    archive_file = tmp_path / "upload.zip"
    archive_file.write_bytes(make_zip({"a.txt": b"a", "b/c.txt": b"c"}))
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        # A folder travels as a tar stream prefixed with its name, as the CLI sends it.
        from_folder = await stack.client.upload_transfer("Field notes", source)
        assert from_folder.source == "Field notes"
        folder = stack.transfer_dir(from_folder.uuid)
        assert files_under(folder) == {"objects/day 1/notes.txt": BETA, "objects/photo.tif": ALPHA}
        assert folders_under(folder) == ["logs", "objects", "objects/day 1", "objects/empty"]
        assert (folder / "objects" / "photo.tif").stat().st_mtime == 1_500_000_000

        from_file = await stack.client.upload_transfer("Zipped", archive_file)
        assert from_file.source == "upload.zip"
        assert files_under(stack.transfer_dir(from_file.uuid)) == {"objects/a.txt": b"a", "objects/b/c.txt": b"c"}


async def test_a_second_transfer_of_the_same_name_at_once_is_refused_and_leaves_nothing(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive = make_zip({"alpha.bin": ALPHA})
    halfway = asyncio.Event()
    go_on = asyncio.Event()

    async def paused() -> AsyncIterator[bytes]:
        yield archive[: len(archive) // 2]
        halfway.set()
        await go_on.wait()
        yield archive[len(archive) // 2:]

    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        first = asyncio.create_task(stack.client.upload_transfer("Same", paused()))
        await halfway.wait()
        with pytest.raises(ServiceError) as refused:
            await stack.client.upload_transfer("Same", chunked(archive, 8192))
        assert refused.value.status == 409
        assert "'Same' is being received right now" in str(refused.value)
        go_on.set()
        made = await first
        assert made.status == TransferStatus.ingesting
        assert stack.leftovers() == [f"transfers/{made.uuid}"]
        assert (await stack.client.list_transfers()).total == 1
        # Once the first is placed, the name is free again.
        again = await stack.client.upload_transfer("Same", chunked(archive, 8192))
        assert files_under(stack.transfer_dir(again.uuid)) == {"objects/alpha.bin": ALPHA}


async def test_listing_paginates_and_filters_by_status(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive = make_zip({"alpha.bin": b"alpha"})
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        made = [await stack.client.upload_transfer(f"T{i}", chunked(archive, 100)) for i in range(3)]
        refused = await stack.http.post(
            "/transfers/upload", params={"name": "bad"}, content=make_tar([("../x", b"x")])
        )
        assert refused.status_code == 422

        page = await stack.client.list_transfers(limit=2)
        assert page.total == 4
        assert [item.name for item in page.items] == ["bad", "T2"]
        rest = await stack.client.list_transfers(limit=2, offset=2)
        assert [item.name for item in rest.items] == ["T1", "T0"]

        ingesting = await stack.client.list_transfers(TransferStatus.ingesting)
        assert {item.uuid for item in ingesting.items} == {t.uuid for t in made}
        failed = await stack.client.list_transfers(TransferStatus.failed)
        assert [item.name for item in failed.items] == ["bad"]
        assert failed.items[0].source_kind is TransferSourceKind.upload
        assert "'../x'" in (failed.items[0].error or "")

        unknown = await stack.http.get("/transfers", params={"status": "lost"})
        assert unknown.status_code == 422


async def test_unknown_transfer_is_a_404_problem_and_the_token_is_required(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        missing = uuid.uuid4()
        response = await stack.http.get(f"/transfers/{missing}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == f"Transfer {missing} does not exist"

        anonymous = await stack.http.post(
            "/transfers/upload", params={"name": "x"}, content=b"PK", headers={"Authorization": ""}
        )
        assert anonymous.status_code == 401
        assert stack.leftovers() == []


async def test_upload_beyond_the_limit_is_413_and_leaves_nothing(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive = make_zip({"alpha.bin": ALPHA}, compression=0)
    archive_file = tmp_path / "big.zip"
    archive_file.write_bytes(archive)
    async with transfer_stack(db_engine, tmp_path, temporal_env, max_upload_bytes=50_000) as stack:
        # Told by Content-Length: refused before reading the body.
        told = await stack.http.post("/transfers/upload", params={"name": "big"}, content=archive)
        # Chunked: refused once the streamed bytes pass the limit.
        streamed = await stack.http.post("/transfers/upload", params={"name": "big"}, content=chunked(archive, 8192))
        for response in (told, streamed):
            assert response.status_code == 413, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["detail"] == "Uploads are limited to 50000 bytes"
        assert stack.leftovers() == []
        assert (await stack.client.list_transfers()).total == 0
        small = await stack.client.upload_transfer("small", chunked(make_zip({"b": BETA}), 1000))
        assert small.status is TransferStatus.ingesting


async def test_not_an_archive_is_refused_without_a_record(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        response = await stack.http.post("/transfers/upload", params={"name": "x"}, content=b"hello " * 200)
        assert response.status_code == 422
        assert "not a zip, tar, tar.gz or 7z archive" in response.json()["detail"]
        damaged = await stack.http.post(
            "/transfers/upload", params={"name": "x", "archive_format": "zip"}, content=make_tar([("a", b"a")])
        )
        assert damaged.status_code == 422
        assert "not a valid zip archive" in damaged.json()["detail"]
        assert stack.leftovers() == []


async def test_ingest_service_unreachable_refuses_the_transfer_before_receiving_it(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env, ingest_reachable=False) as stack:
        response = await stack.http.post(
            "/transfers/upload", params={"name": "orphan"}, content=make_zip({"a.txt": b"a"})
        )
        # Its processing configuration cannot be checked, so nothing is received that ingest might not take.
        assert response.status_code == 503
        assert response.json()["title"] == "Ingest service unavailable"
        assert "unreachable" in response.json()["detail"]
        assert (await stack.client.list_transfers()).items == []
        assert stack.leftovers() == []


async def test_ingest_service_lost_at_hand_off_marks_the_transfer_failed(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        waiting = await stack.client.upload_transfer("orphan", _once(make_zip({"a.txt": b"a"})), auto_approve=False)
        assert waiting.status is TransferStatus.awaiting_approval
        # The ingest service goes away between intake and approval.
        reachable = stack.app.state.ingest_client
        stack.app.state.ingest_client = IngestClient(dead_url(), token=INTERNAL_TOKEN, retries=1)
        await reachable.aclose()
        response = await stack.http.post(f"/transfers/{waiting.uuid}/approve")
        assert response.status_code == 502
        assert response.json()["title"] == "Ingest service unavailable"
        failed = await stack.client.get_transfer(waiting.uuid)
        assert failed.status is TransferStatus.failed
        assert failed.ingest_uuid is None
        assert "ingest" in (failed.error or "") and "unreachable" in (failed.error or "")
        assert failed.file_count == 1
        # The placed material stays for a later retry.
        assert files_under(stack.transfer_dir(failed.uuid)) == {"objects/a.txt": b"a"}


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_folder_streamed_over_real_http(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    source = tmp_path / "Reel"
    (source / "audio").mkdir(parents=True)
    (source / "audio" / "side a.wav").write_bytes(some_bytes(3_000_000, seed=5))
    (source / "label.jpg").write_bytes(ALPHA)
    async with transfer_stack(db_engine, tmp_path, temporal_env, real_http=True, max_upload_bytes=4_000_000) as stack:
        read = await stack.client.upload_transfer("Reel", source)
        assert read.status is TransferStatus.ingesting
        assert files_under(stack.transfer_dir(read.uuid)) == {
            "objects/audio/side a.wav": some_bytes(3_000_000, seed=5), "objects/label.jpg": ALPHA,
        }
        # Chunked, without a length: the limit stops the stream midway and the client hears 413.
        (source / "audio" / "side b.wav").write_bytes(some_bytes(3_000_000, seed=6))
        with pytest.raises(ServiceError) as refused:
            await stack.client.upload_transfer("Reel 2", source)
        assert refused.value.status == 413
        assert stack.leftovers() == [f"transfers/{read.uuid}"]


async def test_folder_with_a_link_is_refused_naming_it(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    source = tmp_path / "Linked"
    source.mkdir()
    (source / "a.txt").write_bytes(b"a")
    (source / "b.txt").symlink_to(source / "a.txt")
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        with pytest.raises(ServiceError) as refused:
            await stack.client.upload_transfer("Linked", source)
        assert refused.value.status == 422
        assert "Entry 'Linked/b.txt' is a symbolic link to" in (refused.value.detail or "")
        assert stack.leftovers() == []
        bad_name = await stack.http.post("/transfers/upload", params={"name": "a\tb"}, content=b"PK")
        assert bad_name.status_code == 422
