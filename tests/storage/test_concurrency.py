"""Many packages at once: a slow upload blocks neither downloads, nor fixity checks, nor other stores; DIPs
and backlog transfers are stored like AIPs, in their own locations."""

from __future__ import annotations

import asyncio
import hashlib
import io
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from clients.storage import LocationPurpose, PackageStatus, PackageType
from tests.storage.harness import Storage
from tests.storage.test_lifecycle import make_bag, pack, sha256_of


async def test_a_stalled_upload_blocks_nothing_else(storage: Storage, tmp_path: Path) -> None:
    aip_uuid = uuid.uuid4()
    bag = make_bag(tmp_path / "work", "Other", aip_uuid)
    archive = pack(bag, "7z")
    await storage.client.store_aip(aip_uuid, "Other", sha256_of(archive), archive)

    body = b"x" * (3 * 1024 * 1024)
    release = asyncio.Event()
    half_sent = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        half_sent.set()
        await release.wait()
        yield body[len(body) // 2 :]

    stalled = asyncio.create_task(storage.http.put(
        f"/aips/{uuid.uuid4()}", params={"name": "slow", "sha256": hashlib.sha256(body).hexdigest()},
        content=slow_body(), headers={"content-length": str(len(body))},
    ))
    await asyncio.wait_for(half_sent.wait(), 10)
    # While that upload waits for its second half, everything else goes on.
    async with asyncio.timeout(20):
        size = await storage.client.download_aip(aip_uuid, tmp_path / "copy.7z")
        report = await storage.client.check_aip_fixity(aip_uuid)
        second = uuid.uuid4()
        stored = await storage.client.store_aip(second, "Second", sha256_of(archive), archive)
    assert size == archive.stat().st_size and report.success and stored.status == PackageStatus.stored
    assert not stalled.done()
    release.set()
    response = await asyncio.wait_for(stalled, 20)
    assert response.status_code == 201, response.text


async def test_dips_and_backlog_transfers_have_their_own_locations(storage: Storage, tmp_path: Path) -> None:
    aip_uuid, dip_uuid, transfer_uuid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    archive = pack(make_bag(tmp_path / "dip", "Hart", dip_uuid), "7z")
    stored = await storage.client.store_dip(dip_uuid, "Hart", sha256_of(archive), archive, aip_uuid=aip_uuid)
    dip = await storage.client.get_package(dip_uuid)
    assert dip == stored
    [dip_location] = await storage.client.list_locations(LocationPurpose.dip_storage)
    assert (dip.package_type, dip.location_uuid, dip.related_package_uuid) == (
        PackageType.dip, dip_location.uuid, aip_uuid)
    # Found from its AIP: the DIPs made from it.
    listed = await storage.http.get("/packages", params={"package_type": "dip", "related_to": str(aip_uuid)})
    assert [item["uuid"] for item in listed.json()["items"]] == [str(dip_uuid)]
    other = await storage.http.get("/packages", params={"package_type": "dip", "related_to": str(uuid.uuid4())})
    assert other.json()["items"] == []

    bag = make_bag(tmp_path / "transfer", "Intake", transfer_uuid)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(bag, arcname=bag.name)
    response = await storage.http.put(f"/backlog/{transfer_uuid}", params={"name": "Intake"},
                                      content=buffer.getvalue())
    assert response.status_code == 201, response.text
    transfer = await storage.client.get_package(transfer_uuid)
    [backlog] = await storage.client.list_locations(LocationPurpose.backlog)
    assert (transfer.package_type, transfer.location_uuid, transfer.uncompressed) == (
        PackageType.transfer, backlog.uuid, True)
    assert (storage.settings.backlog_dir / transfer.current_path / "bagit.txt").is_file()
    download = await storage.http.get(f"/packages/{transfer_uuid}/download")
    assert download.status_code == 200 and download.headers["content-type"] == "application/x-tar"
    listed = await storage.http.get("/packages", params={"package_type": "dip"})
    assert [item["uuid"] for item in listed.json()["items"]] == [str(dip_uuid)]


async def test_a_file_on_the_same_filesystem_is_moved_in_not_uploaded(storage: Storage, tmp_path: Path) -> None:
    aip_uuid = uuid.uuid4()
    archive = pack(make_bag(storage.settings.processing_dir / "work", "Moved", aip_uuid), "7z")
    digest = sha256_of(archive)
    inode = archive.stat().st_ino
    wrong = await storage.http.post(f"/aips/{aip_uuid}/move-in", json={
        "name": "Moved", "sha256": "0" * 64, "source_path": str(archive)})
    assert wrong.status_code == 422 and archive.exists()
    outside = tmp_path / "elsewhere.7z"
    outside.write_bytes(archive.read_bytes())
    refused = await storage.http.post(f"/aips/{uuid.uuid4()}/move-in", json={
        "name": "Out", "sha256": digest, "source_path": str(outside)})
    assert refused.status_code == 422

    package = await storage.client.move_aip_in(aip_uuid, "Moved", digest, archive)
    stored = storage.aip_dir / package.current_path
    assert package.status == PackageStatus.stored and package.sha256 == digest
    assert not archive.exists() and stored.stat().st_ino == inode  # renamed, not copied
    again = await storage.client.move_aip_in(aip_uuid, "Moved", digest, archive)
    assert again.uuid == aip_uuid
    assert (await storage.client.check_aip_fixity(aip_uuid)).success
