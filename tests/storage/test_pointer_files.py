"""A compressed AIP's pointer file is stored beside it (`pointer.<uuid>.xml`, recorded on the package) and served
as stored; an uncompressed AIP has none, as in Archivematica (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicekit.http import ServiceError
from tests.storage.harness import Storage
from tests.storage.test_lifecycle import store

POINTER = b'<?xml version="1.0"?>\n<mets:mets xmlns:mets="http://www.loc.gov/METS/"/>\n'


async def test_a_pointer_file_is_stored_beside_the_compressed_aip(storage: Storage, tmp_path: Path) -> None:
    aip_uuid, _bag, _archive = await store(storage, tmp_path, "7z")
    package = await storage.client.store_pointer_file(aip_uuid, POINTER)
    folder = package.current_path.rsplit("/", 1)[0]
    assert package.pointer_path == f"{folder}/pointer.{aip_uuid}.xml"
    on_disk = next((tmp_path / "data").rglob(f"pointer.{aip_uuid}.xml"))
    assert on_disk.read_bytes() == POINTER
    assert on_disk.parent == next((tmp_path / "data").rglob(f"Hart-{aip_uuid}.7z")).parent
    assert await storage.client.pointer_file(aip_uuid) == POINTER
    again = await storage.client.store_pointer_file(aip_uuid, POINTER.replace(b"/>", b"></mets:mets>"))
    assert again.pointer_path == package.pointer_path
    assert (await storage.client.get_aip(aip_uuid)).pointer_path == package.pointer_path
    response = await storage.http.get(f"/aips/{aip_uuid}/pointer")
    assert response.headers["content-type"] == "application/xml"


async def test_an_uncompressed_aip_has_no_pointer_file(storage: Storage, tmp_path: Path) -> None:
    aip_uuid, _bag, _archive = await store(storage, tmp_path, "folder")
    with pytest.raises(ServiceError) as refused:
        await storage.client.store_pointer_file(aip_uuid, POINTER)
    assert refused.value.status == 409
    with pytest.raises(ServiceError) as missing:
        await storage.client.pointer_file(aip_uuid)
    assert missing.value.status == 404
    assert not list((tmp_path / "data").rglob("pointer.*.xml"))


async def test_the_pointer_file_goes_with_an_approved_deletion(storage: Storage, tmp_path: Path) -> None:
    aip_uuid, _bag, _archive = await store(storage, tmp_path, "7z")
    await storage.client.store_pointer_file(aip_uuid, POINTER)
    pointer = next((tmp_path / "data").rglob(f"pointer.{aip_uuid}.xml"))
    alice, bob = storage.as_user("alice"), storage.as_user("bob")
    try:
        request = await alice.request_aip_deletion(aip_uuid, "Donor withdrew the collection")
        await bob.approve_deletion(request.uuid, "Confirmed")
    finally:
        await alice.aclose()
        await bob.aclose()
    assert not pointer.exists()
