"""Transfers from a transfer-source location of the real storage service (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.storage import LocationPurpose
from clients.storage.schemas import LocationCreate
from clients.transfer import TransferFromLocation, TransferSourceKind, TransferStatus
from tests.transfer.harness import TransferStack, files_under, folders_under, some_bytes, transfer_stack

ALPHA = some_bytes(150_000, seed=3)


async def source_location(stack: TransferStack) -> uuid.UUID:
    (location,) = await stack.storage.list_locations(LocationPurpose.transfer_source)
    return location.uuid


def make_box(root: Path) -> Path:
    box = root / "Box 2"
    (box / "letters" / "1901").mkdir(parents=True)
    (box / "empty").mkdir()
    (box / "letters" / "1901" / "a.txt").write_bytes(b"dear sir")
    (box / "scan.tif").write_bytes(ALPHA)
    os.utime(box / "scan.tif", (1_400_000_000, 1_400_000_000))
    os.utime(box / "letters" / "1901", (1_300_000_000, 1_300_000_000))
    return box


async def test_folder_is_copied_under_objects_and_handed_to_ingest(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    box = make_box(tmp_path / "source")
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        location = await source_location(stack)
        response = await stack.http.post(
            "/transfers", json={"name": "Box 2", "location_uuid": str(location), "path": "Box 2"},
            headers={"X-Amber-User": "bob"},
        )
        assert response.status_code == 201, response.text
        transfer = response.json()
        assert transfer["status"] == "ingesting"
        assert (transfer["source_kind"], transfer["source"]) == ("location", f"{location}:Box 2")
        assert (transfer["file_count"], transfer["size"]) == (2, len(ALPHA) + 8)
        folder = stack.transfer_dir(transfer["uuid"])
        assert files_under(folder) == {"objects/letters/1901/a.txt": b"dear sir", "objects/scan.tif": ALPHA}
        assert folders_under(folder) == ["logs", "objects", "objects/empty", "objects/letters", "objects/letters/1901"]
        assert (folder / "objects" / "scan.tif").stat().st_mtime == 1_400_000_000
        assert (folder / "objects" / "letters" / "1901").stat().st_mtime == 1_300_000_000
        assert files_under(box) == {"letters/1901/a.txt": b"dear sir", "scan.tif": ALPHA}  # the source stays

        ingest = (await stack.ingest_http.get(f"/ingests/{transfer['ingest_uuid']}")).json()
        assert (ingest["transfer_uuid"], ingest["created_by"]) == (transfer["uuid"], "bob")


async def test_laid_out_folder_and_single_file_through_the_client(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    source = tmp_path / "source"
    (source / "ready" / "objects" / "sub").mkdir(parents=True)
    (source / "ready" / "metadata").mkdir()
    (source / "ready" / "objects" / "sub" / "x.bin").write_bytes(ALPHA)
    (source / "ready" / "metadata" / "m.csv").write_bytes(b"filename,dc.title")
    (source / "ready" / "notes.txt").write_bytes(b"notes")
    (source / "single.pdf").write_bytes(b"%PDF-1.7")
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        location = await source_location(stack)
        ready = await stack.client.create_transfer_from_location(
            TransferFromLocation(name="Ready", location_uuid=location, path="ready/")
        )
        assert ready.source_kind is TransferSourceKind.location
        assert files_under(stack.transfer_dir(ready.uuid)) == {
            "objects/sub/x.bin": ALPHA, "metadata/m.csv": b"filename,dc.title", "objects/notes.txt": b"notes",
        }
        single = await stack.client.create_transfer_from_location(
            TransferFromLocation(name="Single", location_uuid=location, path="single.pdf")
        )
        assert files_under(stack.transfer_dir(single.uuid)) == {"objects/single.pdf": b"%PDF-1.7"}
        assert (single.file_count, single.size) == (1, 8)


async def test_links_and_special_files_are_refused_and_listed(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    box = make_box(tmp_path / "source")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (box / "letters" / "secret").symlink_to(tmp_path / "secret.txt")
    (box / "inside-link").symlink_to(box / "scan.tif")
    os.mkfifo(box / "pipe")
    (box / "letters").joinpath(os.fsdecode(b"caf\xe9.txt")).write_bytes(b"latin-1 name")
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        location = await source_location(stack)
        response = await stack.http.post(
            "/transfers", json={"name": "Box 2", "location_uuid": str(location), "path": "Box 2"}
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["detail"].startswith("The source holds 4 entries that cannot be transferred")
        assert problem["errors"] == [
            {"entry": "inside-link", "reason": "is a symbolic link (links are not accepted in transfers)"},
            {"entry": "letters/caf\\xe9.txt", "reason": "has a name that is not valid UTF-8"},
            {"entry": "letters/secret", "reason": "is a symbolic link (links are not accepted in transfers)"},
            {"entry": "pipe", "reason": "is a FIFO (named pipe)"},
        ]
        assert stack.leftovers() == []
        (failed,) = (await stack.client.list_transfers()).items
        assert failed.status is TransferStatus.failed


async def test_paths_must_exist_and_stay_inside_a_transfer_source(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    make_box(tmp_path / "source")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.txt").write_bytes(b"x")
    (tmp_path / "source" / "escape").symlink_to(tmp_path / "outside")
    (tmp_path / "source" / "alias").symlink_to(tmp_path / "source" / "Box 2")
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        location = await source_location(stack)
        (aip_store,) = await stack.storage.list_locations(LocationPurpose.aip_storage)

        async def post(path: str, location_uuid: uuid.UUID = location) -> tuple[int, str]:
            response = await stack.http.post(
                "/transfers", json={"name": "x", "location_uuid": str(location_uuid), "path": path}
            )
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
            return response.status_code, response.json().get("detail", "")

        assert await post("../outside") == (400, f"'../outside' leads outside location {location}")
        assert (await post("Box 2/../../outside"))[0] == 400
        assert await post("escape") == (400, f"'escape' leads outside location {location}")
        assert await post("/etc") == (400, "The path must be relative to the location")
        assert await post("Box 2/\x01") == (400, "The path has control characters")
        assert await post("Box 3") == (404, f"'Box 3' does not exist in location {location}")
        missing = uuid.uuid4()
        assert await post("Box 2", missing) == (404, f"Location {missing} does not exist")
        status, detail = await post("Box 2", aip_store.uuid)
        assert (status, detail) == (400, f"Location {aip_store.uuid} has purpose aip_storage, not transfer_source")
        assert stack.leftovers() == []
        assert (await stack.client.list_transfers()).total == 0

        # Nothing the filesystem refuses to resolve is a 5xx.
        (tmp_path / "source" / "loop-a").symlink_to("loop-b")
        (tmp_path / "source" / "loop-b").symlink_to("loop-a")
        assert (await post("loop-a"))[0] in (400, 404)
        assert (await post("x" * 300))[0] == 400
        assert (await post("Box 2/scan.tif/below"))[0] in (400, 404)
        assert stack.leftovers() == []

        # A link that stays inside the location is only a way to name the folder.
        assert (await post("alias"))[0] == 201


async def test_a_location_outside_the_allowed_roots_is_refused_by_intake_too(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    """The storage service allowed `wide/` when the location was made; intake is configured without it (the
    operator removed the root, or the row predates the roots): intake refuses to copy from it."""
    wide = tmp_path / "wide"
    make_box(wide / "share")
    async with transfer_stack(
        db_engine, tmp_path, temporal_env, storage_roots={"allowed_roots": [tmp_path / "amber", wide]},
    ) as stack:
        share = await stack.storage.create_location(
            LocationCreate(purpose=LocationPurpose.transfer_source, path=str(wide / "share"))
        )
        made = await stack.client.create_transfer_from_location(
            TransferFromLocation(name="Allowed", location_uuid=share.uuid, path="Box 2")
        )
        assert made.status is not TransferStatus.failed
    async with transfer_stack(
        db_engine, tmp_path, temporal_env, storage_roots={"allowed_roots": [tmp_path / "amber", wide]},
        allowed_roots=[tmp_path / "amber"],
    ) as stack:
        for path in ("Box 2", ".", "Box 2/scan.tif"):
            response = await stack.http.post(
                "/transfers", json={"name": "Refused", "location_uuid": str(share.uuid), "path": path}
            )
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert "AMBER_STORAGE_ALLOWED_ROOTS" in response.json()["detail"]
        assert stack.leftovers() == [f"transfers/{made.uuid}"]
        assert [t.name for t in (await stack.client.list_transfers()).items] == ["Allowed"]


async def test_storage_service_unreachable_is_a_502(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env, storage_reachable=False) as stack:
        response = await stack.http.post(
            "/transfers", json={"name": "x", "location_uuid": str(uuid.uuid4()), "path": "Box 2"}
        )
        assert response.status_code == 502
        assert response.json()["title"] == "Storage service unavailable"
