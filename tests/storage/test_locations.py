"""Locations: the defaults made at start-up, reading them, and browsing inside them safely."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from clients.storage import LocationPurpose
from clients.storage.schemas import LocationCreate
from servicekit.db import unit_of_work
from services.storage.locations.models import Location
from services.storage.locations.repository import LocationRepository
from services.storage.spaces.service import ensure_local_space
from tests.storage.harness import Storage, running_storage, settings_for, write_random_file


async def test_default_locations_are_created_once_across_start_ups(db_engine: AsyncEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    snapshots = []
    for _ in range(2):
        async with running_storage(settings, db_engine) as storage:
            locations = await storage.client.list_locations()
            snapshots.append(sorted((str(loc.uuid), loc.purpose, loc.path, loc.is_default) for loc in locations))
    assert snapshots[0] == snapshots[1]
    by_purpose: dict[LocationPurpose, list[tuple[str, bool]]] = {}
    for _uuid, purpose, path, is_default in snapshots[0]:
        by_purpose.setdefault(purpose, []).append((path, is_default))
    assert by_purpose[LocationPurpose.aip_storage] == [(str(settings.aip_store_dir), True)]
    assert by_purpose[LocationPurpose.currently_processing] == [(str(settings.processing_dir), True)]
    assert sorted(by_purpose[LocationPurpose.transfer_source]) == [
        (str(tmp_path / "sources" / "a"), True),
        (str(tmp_path / "sources" / "b"), False),
    ]
    assert by_purpose[LocationPurpose.dip_storage] == [(str(settings.dip_store_dir), True)]
    assert by_purpose[LocationPurpose.backlog] == [(str(settings.backlog_dir), True)]
    assert len(snapshots[0]) == 6
    sources = [tmp_path / "sources" / "a", tmp_path / "sources" / "b"]
    for folder in (settings.aip_store_dir, settings.processing_dir, settings.dip_store_dir, *sources):
        assert folder.is_dir()


async def test_a_new_aip_store_dir_becomes_the_default_and_the_old_location_stays(
    db_engine: AsyncEngine, tmp_path: Path
) -> None:
    async with running_storage(settings_for(tmp_path), db_engine) as storage:
        [old] = await storage.client.list_locations(LocationPurpose.aip_storage)
    moved = settings_for(tmp_path, aip_store_dir=tmp_path / "elsewhere")
    async with running_storage(moved, db_engine) as storage:
        locations = await storage.client.list_locations(LocationPurpose.aip_storage)
        assert {(loc.uuid == old.uuid, loc.is_default) for loc in locations} == {(True, False), (False, True)}
        assert [loc.path for loc in locations if loc.is_default] == [str(tmp_path / "elsewhere")]


async def test_get_location_and_filters(storage: Storage) -> None:
    sources = await storage.client.list_locations(LocationPurpose.transfer_source)
    assert [loc.purpose for loc in sources] == [LocationPurpose.transfer_source] * 2
    assert [loc.path for loc in sources] == sorted(loc.path for loc in sources)
    one = await storage.client.get_location(sources[0].uuid)
    assert one == sources[0]
    assert one.used == 0 and one.quota is None

    missing = await storage.http.get(f"/locations/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad_purpose = await storage.http.get("/locations", params={"purpose": "nowhere"})
    assert bad_purpose.status_code == 422


async def test_browse_lists_a_folder_and_refuses_to_leave_the_location(storage: Storage, tmp_path: Path) -> None:
    source = next(
        loc for loc in await storage.client.list_locations(LocationPurpose.transfer_source) if loc.is_default
    )
    root = Path(source.path)
    (root / "box" / "inner").mkdir(parents=True)
    write_random_file(root / "box" / "letter.txt", 1234)
    (root / "readme.md").write_text("hello")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwords.txt").write_text("nope")
    os.symlink(outside, root / "escape")
    os.symlink(root / "box", root / "shortcut")

    listing = await storage.client.browse_location(source.uuid)
    assert listing.path == ""
    # Folders come with the bytes and number of the files inside them, at any depth.
    assert [(e.name, e.type.value, e.size, e.file_count) for e in listing.entries] == [
        ("box", "dir", 1234, 1), ("readme.md", "file", 5, None), ("shortcut", "dir", 1234, 1)
    ]
    inner = await storage.client.browse_location(source.uuid, "box/")
    assert inner.path == "box"
    assert [(e.name, e.type.value, e.size, e.file_count) for e in inner.entries] == [
        ("inner", "dir", 0, 0), ("letter.txt", "file", 1234, None)
    ]
    assert all(e.complete for e in inner.entries)
    via_link = await storage.client.browse_location(source.uuid, "./shortcut")
    assert [e.name for e in via_link.entries] == ["inner", "letter.txt"]

    for escaping in ("..", "box/../..", "../secret", "/etc", str(outside), "escape", "escape/"):
        response = await storage.http.get(f"/locations/{source.uuid}/browse", params={"path": escaping})
        assert response.status_code == 400, (escaping, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "passwords" not in response.text
    missing = await storage.http.get(f"/locations/{source.uuid}/browse", params={"path": "nothing-here"})
    assert missing.status_code == 404
    not_folder = await storage.http.get(f"/locations/{source.uuid}/browse", params={"path": "readme.md"})
    assert not_folder.status_code == 400
    unknown = await storage.http.get(f"/locations/{uuid.uuid4()}/browse")
    assert unknown.status_code == 404


async def test_every_operation_requires_the_internal_token(storage: Storage) -> None:
    for path in ("/locations", f"/aips/{uuid.uuid4()}", "/aips"):
        response = await storage.http.get(path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, path
    upload = await storage.http.put(
        f"/aips/{uuid.uuid4()}", params={"name": "x", "sha256": "0" * 64}, content=b"data",
        headers={"Authorization": ""},
    )
    assert upload.status_code == 401


# --- locations stay inside the allowed roots (issue 10) ------------------------------------------------------


def assert_outside_roots(response: httpx.Response, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "AMBER_STORAGE_ALLOWED_ROOTS" in response.json()["detail"]


async def test_a_location_outside_the_allowed_roots_is_refused(storage: Storage, tmp_path: Path) -> None:
    data_dir = storage.settings.data_dir
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, data_dir / "link-out")
    os.symlink("/etc", data_dir / "etc-link")
    refused = [
        "/", "/etc", "/etc/amber", "../../", "../outside", str(data_dir / ".." / "outside"),
        str(data_dir / "link-out"), str(data_dir / "link-out" / "below"), str(data_dir / "etc-link"),
        "link-out/below/deeper", str(tmp_path),
    ]
    for path in refused:
        for purpose in ("transfer_source", "aip_storage", "currently_processing"):
            response = await storage.http.post("/locations", json={"purpose": purpose, "path": path})
            assert_outside_roots(response)
    assert list(outside.iterdir()) == []  # nothing was made through the link
    assert "amber" not in os.listdir("/etc")
    assert len(await storage.client.list_locations()) == 6


async def test_control_characters_and_a_tilde_are_refused(storage: Storage) -> None:
    for path in ("\x00", "box\x00", "\n", "box\x7f", "~", "~root", "~/shares"):
        response = await storage.http.post("/locations", json={"purpose": "transfer_source", "path": path})
        assert response.status_code == 422, (path, response.text)
        assert "/root" not in response.text
    assert len(await storage.client.list_locations()) == 6


async def test_the_data_directory_itself_is_never_a_location(storage: Storage) -> None:
    for path in (str(storage.settings.data_dir), ".", "storage/.."):
        response = await storage.http.post("/locations", json={"purpose": "transfer_source", "path": path})
        assert response.status_code == 422, response.text
        assert "keys and databases" in response.json()["detail"]


async def test_a_relative_path_is_taken_from_the_first_root(storage: Storage) -> None:
    response = await storage.http.post("/locations", json={"purpose": "transfer_source", "path": "shares/a/../b"})
    assert response.status_code == 201, response.text
    assert response.json()["path"] == str(storage.settings.data_dir / "shares" / "b")
    assert (storage.settings.data_dir / "shares" / "b").is_dir()
    listing = await storage.client.browse_location(uuid.UUID(response.json()["uuid"]))
    assert listing.entries == []


async def test_a_link_inside_the_roots_to_inside_the_roots_is_fine(storage: Storage) -> None:
    target = storage.settings.data_dir / "real-share"
    target.mkdir()
    os.symlink(target, storage.settings.data_dir / "share-link")
    response = await storage.http.post(
        "/locations", json={"purpose": "transfer_source", "path": str(storage.settings.data_dir / "share-link")}
    )
    assert response.status_code == 201, response.text


async def test_configured_roots_allow_folders_elsewhere_and_removing_one_stops_its_locations(
    db_engine: AsyncEngine, tmp_path: Path
) -> None:
    extra = tmp_path / "mnt" / "archive"
    widened = settings_for(tmp_path, allowed_roots=[tmp_path / "data", extra])
    async with running_storage(widened, db_engine) as storage:
        made = await storage.client.create_location(
            LocationCreate(purpose=LocationPurpose.aip_storage, path=str(extra / "aips"))
        )
        source = await storage.client.create_location(
            LocationCreate(purpose=LocationPurpose.transfer_source, path=str(extra / "incoming"))
        )
        (extra / "incoming" / "letter.txt").write_text("hello")
        assert [e.name for e in (await storage.client.browse_location(source.uuid)).entries] == ["letter.txt"]
        archive = tmp_path / "aip.7z"
        archive.write_bytes(b"not really 7z, storage does not care")
        aip_uuid = uuid.uuid4()
        await storage.register(aip_uuid, "Kept")
        await storage.client.store_aip(aip_uuid, "Kept", hashlib.sha256(archive.read_bytes()).hexdigest(), archive,
                                       location_uuid=made.uuid)
        assert (await storage.http.get(f"/aips/{aip_uuid}/download")).status_code == 200
    # The operator narrows the roots: the locations stay recorded but no longer reach their folders.
    async with running_storage(settings_for(tmp_path), db_engine) as storage:
        assert_outside_roots(await storage.http.get(f"/locations/{source.uuid}/browse"))
        assert_outside_roots(await storage.http.get(f"/aips/{aip_uuid}/download"))
        assert_outside_roots(await storage.http.get(f"/packages/{aip_uuid}/download"))
        assert_outside_roots(await storage.http.post(f"/aips/{aip_uuid}/fixity"))
        again = uuid.uuid4()
        await storage.register(again, "Again")
        response = await storage.http.put(
            f"/aips/{again}", params={"name": "Again", "sha256": "0" * 64, "location_uuid": str(made.uuid)},
            content=b"data",
        )
        assert_outside_roots(response)
        assert not any((extra / "aips").rglob(f"*{again}*"))


async def test_a_location_recorded_before_the_roots_existed_stops_working(storage: Storage) -> None:
    """A row made by an older version at /etc (or anywhere outside) is refused where it is used."""
    async with unit_of_work(storage.app.state.sessions) as session:
        space = await ensure_local_space(session)
        old = await LocationRepository(session).add(
            Location(space_uuid=space.uuid, purpose=LocationPurpose.transfer_source, path="/etc")
        )
        old_uuid = old.uuid
    for path in ("", "ssl", "passwd"):
        response = await storage.http.get(f"/locations/{old_uuid}/browse", params={"path": path})
        assert_outside_roots(response)
        assert "passwd" not in response.text.replace("'passwd'", "")


async def test_a_location_whose_folder_became_a_link_out_stops_working(storage: Storage, tmp_path: Path) -> None:
    made = await storage.client.create_location(
        LocationCreate(purpose=LocationPurpose.transfer_source, path="swapped")
    )
    os.rmdir(made.path)
    os.symlink("/etc", made.path)
    assert_outside_roots(await storage.http.get(f"/locations/{made.uuid}/browse"))


async def test_browsing_never_answers_5xx(storage: Storage, tmp_path: Path) -> None:
    source = next(
        loc for loc in await storage.client.list_locations(LocationPurpose.transfer_source) if loc.is_default
    )
    root = Path(source.path)
    os.mkfifo(root / "pipe")
    (root / "readme.md").write_text("hello")
    os.symlink(root / "nowhere", root / "dangling")
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")
    cases = {
        "pipe": 400, "readme.md": 400, "readme.md/below": 404, "x" * 300: 400, f"{'d/' * 2100}d": 422,
        "a\x00b": 400, "dangling": 404, "loop-a": 404, "a\\b": 400,
    }
    for path, status in cases.items():
        response = await storage.http.get(f"/locations/{source.uuid}/browse", params={"path": path})
        assert response.status_code == status, (path[:20], response.text)
        assert response.headers["content-type"] == "application/problem+json"
    for raw in ("%FF", "%C0%AF", "%00", "..%2F..%2Fetc"):  # bytes that are no UTF-8, a NUL, an encoded climb
        response = await storage.http.get(f"/locations/{source.uuid}/browse?path={raw}")
        assert 400 <= response.status_code < 500, (raw, response.text)
    listing = await storage.client.browse_location(source.uuid)
    assert [e.name for e in listing.entries] == ["pipe", "readme.md"]  # the dangling and looping links are left out


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
async def test_browsing_an_unreadable_folder_is_a_403(storage: Storage) -> None:
    source = next(
        loc for loc in await storage.client.list_locations(LocationPurpose.transfer_source) if loc.is_default
    )
    locked = Path(source.path) / "locked"
    locked.mkdir(mode=0)
    try:
        response = await storage.http.get(f"/locations/{source.uuid}/browse", params={"path": "locked"})
    finally:
        locked.chmod(0o700)
    assert response.status_code == 403, response.text


async def test_a_processing_location_outside_the_roots_lets_nothing_move_in(storage: Storage, tmp_path: Path) -> None:
    """A currently-processing location at / (recorded by an older version) must not open every file to move-in."""
    async with unit_of_work(storage.app.state.sessions) as session:
        space = await ensure_local_space(session)
        await LocationRepository(session).add(
            Location(space_uuid=space.uuid, purpose=LocationPurpose.currently_processing, path=str(tmp_path / "out"))
        )
    secret = tmp_path / "out" / "secret.7z"
    secret.parent.mkdir()
    secret.write_bytes(b"secret")
    aip_uuid = uuid.uuid4()
    await storage.register(aip_uuid, "Secret")
    response = await storage.http.post(f"/aips/{aip_uuid}/move-in", json={
        "name": "Secret", "sha256": hashlib.sha256(b"secret").hexdigest(), "source_path": str(secret),
    })
    assert response.status_code == 422, response.text
    assert secret.exists()


async def test_a_replicator_outside_the_roots_fails_the_replica_not_the_store(
    db_engine: AsyncEngine, tmp_path: Path
) -> None:
    extra = tmp_path / "mnt" / "replicas"
    async with running_storage(settings_for(tmp_path, allowed_roots=[tmp_path / "data", extra]), db_engine) as storage:
        replicator = await storage.client.create_location(
            LocationCreate(purpose=LocationPurpose.replicator, path=str(extra))
        )
        [aip_store] = await storage.client.list_locations(LocationPurpose.aip_storage)
        await storage.client.attach_replicator(aip_store.uuid, replicator.uuid)
    async with running_storage(settings_for(tmp_path), db_engine) as storage:
        archive = tmp_path / "aip.7z"
        archive.write_bytes(b"package bytes")
        aip_uuid = uuid.uuid4()
        await storage.register(aip_uuid, "Kept")
        stored = await storage.client.store_aip(aip_uuid, "Kept", hashlib.sha256(b"package bytes").hexdigest(), archive)
        assert stored.location_uuid == aip_store.uuid
        [replica] = await storage.client.list_aip_replicas(aip_uuid)
        assert replica.status == "failed"
    assert list(extra.iterdir()) == []
