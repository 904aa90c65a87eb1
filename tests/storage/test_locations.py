"""Locations: the defaults made at start-up, reading them, and browsing inside them safely."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from clients.storage import LocationPurpose
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
