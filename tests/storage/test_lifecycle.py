"""Acceptance: store, download, extract, fixity, replication, recovery and approved deletion, on compressed
(7z, tar.gz) and uncompressed AIPs made of real bags; PREMIS events land in the real metadata service."""

from __future__ import annotations

import asyncio
import hashlib
import io
import subprocess
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import bagit
import pytest

from clients.storage import (
    AuditStatus,
    DeletionRequestStatus,
    LocationCreate,
    LocationPurpose,
    PackageStatus,
)
from servicekit.http import ServiceError
from tests.storage.harness import Storage, files_under

KINDS = ["7z", "tar.gz", "folder"]


def make_bag(root: Path, name: str, aip_uuid: uuid.UUID) -> Path:
    bag_dir = root / f"{name}-{aip_uuid}"
    (bag_dir / "objects" / "sub").mkdir(parents=True)
    (bag_dir / "objects" / "a.txt").write_text("alpha\n" * 1000)
    (bag_dir / "objects" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 300)
    (bag_dir / "objects" / "empty.txt").write_bytes(b"")
    (bag_dir / f"METS.{aip_uuid}.xml").write_text(f'<?xml version="1.0"?><mets OBJID="{aip_uuid}"/>\n')
    bagit.make_bag(str(bag_dir), checksums=["sha256"])
    return bag_dir


def pack(bag_dir: Path, kind: str) -> Path:
    if kind == "7z":
        out = bag_dir.parent / f"{bag_dir.name}.7z"
        subprocess.run(["7z", "a", "-bd", "-t7z", "-y", "-m0=bzip2", "-mx=5", "-mf=off", str(out), bag_dir.name],
                       cwd=bag_dir.parent, check=True, capture_output=True)
        return out
    out = bag_dir.parent / f"{bag_dir.name}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        tar.add(bag_dir, arcname=bag_dir.name)
    return out


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def store(storage: Storage, tmp_path: Path, kind: str) -> tuple[uuid.UUID, Path, Path | None]:
    """A stored AIP of `kind`: (its uuid, the bag folder it was made from, the package file or None)."""
    aip_uuid = uuid.uuid4()
    bag_dir = make_bag(tmp_path / "work", "Hart", aip_uuid)
    await storage.register(aip_uuid, "Hart")
    if kind == "folder":
        package = await storage.client.store_aip_folder(aip_uuid, "Hart", bag_dir)
        assert package.uncompressed and package.current_path.endswith(f"/Hart-{aip_uuid}")
        return aip_uuid, bag_dir, None
    archive = pack(bag_dir, kind)
    package = await storage.client.store_aip(aip_uuid, "Hart", sha256_of(archive), archive, extension=kind)
    assert package.current_path.endswith(f"/Hart-{aip_uuid}.{kind}") and not package.uncompressed
    return aip_uuid, bag_dir, archive


async def add_replicator(storage: Storage, tmp_path: Path) -> uuid.UUID:
    replicator = await storage.client.create_location(
        LocationCreate(
            purpose=LocationPurpose.replicator, path=str(storage.settings.data_dir / "replica"), description="Replica"
        )
    )
    [aip_location] = await storage.client.list_locations(LocationPurpose.aip_storage)
    attached = await storage.client.attach_replicator(aip_location.uuid, replicator.uuid)
    assert [loc.uuid for loc in attached] == [replicator.uuid]
    return replicator.uuid


async def event_types(storage: Storage, aip_uuid: uuid.UUID) -> list[tuple[str, str]]:
    page = await storage.metadata.list_events(aip_uuid, limit=1000)
    return [(event.type, event.outcome) for event in page.items]


def stored_path(storage: Storage, current_path: str) -> Path:
    return storage.aip_dir / current_path


@pytest.mark.parametrize("kind", KINDS)
async def test_store_download_extract_and_fixity(storage: Storage, tmp_path: Path, kind: str) -> None:
    aip_uuid, bag_dir, archive = await store(storage, tmp_path, kind)
    package = await storage.client.get_aip(aip_uuid)
    assert package.status == PackageStatus.stored

    # Download, whole and (for a package file) in ranges.
    dest = tmp_path / "download"
    size = await storage.client.download_aip(aip_uuid, dest)
    if archive is not None:
        assert dest.read_bytes() == archive.read_bytes() and size == archive.stat().st_size
        response = await storage.http.get(f"/aips/{aip_uuid}/download", headers={"Range": "bytes=10-99"})
        assert response.status_code == 206 and response.content == archive.read_bytes()[10:100]
        assert response.headers["content-disposition"] == f'attachment; filename="Hart-{aip_uuid}.{kind}"'
    else:
        with tarfile.open(dest) as tar:
            names = sorted(m.name for m in tar.getmembers() if m.isfile())
            assert names == sorted(f"Hart-{aip_uuid}/{p.relative_to(bag_dir).as_posix()}"
                                   for p in files_under(bag_dir))
            extracted = tar.extractfile(f"Hart-{aip_uuid}/data/objects/a.txt")
            assert extracted is not None and extracted.read() == (bag_dir / "data/objects/a.txt").read_bytes()

    # Extract the METS only.
    mets = tmp_path / "METS.xml"
    await storage.client.extract_aip_file(aip_uuid, f"data/METS.{aip_uuid}.xml", mets)
    assert mets.read_bytes() == (bag_dir / "data" / f"METS.{aip_uuid}.xml").read_bytes()
    missing = await storage.http.get(f"/aips/{aip_uuid}/files/data/nope.txt")
    assert missing.status_code == 404

    # Fixity passes and is recorded.
    report = await storage.client.check_aip_fixity(aip_uuid)
    assert report.success, report
    assert report.files_checked == len(files_under(bag_dir)) and report.event_uuid is not None
    assert (await storage.client.get_aip(aip_uuid)).status == PackageStatus.verified
    assert ("fixity check", "Pass") in await event_types(storage, aip_uuid)


def flip_one_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", KINDS)
async def test_one_byte_change_fails_fixity_and_recovery_restores_from_the_replica(
    storage: Storage, tmp_path: Path, kind: str
) -> None:
    replicator_uuid = await add_replicator(storage, tmp_path)
    aip_uuid, _bag_dir, _archive = await store(storage, tmp_path, kind)
    [replica] = await storage.client.list_aip_replicas(aip_uuid)
    assert (replica.location_uuid, replica.status, replica.replica_of) == (
        replicator_uuid, PackageStatus.verified, aip_uuid)
    package = await storage.client.get_aip(aip_uuid)
    replica_path = storage.settings.data_dir / "replica" / package.current_path
    assert replica_path.exists()
    assert ("replication", "Pass") in await event_types(storage, aip_uuid)
    assert (await storage.client.check_aip_fixity(replica.uuid)).success

    primary = stored_path(storage, package.current_path)
    original = {p: p.read_bytes() for p in files_under(primary)} if kind == "folder" else primary.read_bytes()
    if kind == "folder":
        flip_one_byte(primary / "data" / "objects" / "sub" / "b.bin", 1000)
    else:
        flip_one_byte(primary)
    report = await storage.client.check_aip_fixity(aip_uuid)
    assert not report.success
    if kind == "folder":
        [changed] = report.changed
        assert changed.path == "data/objects/sub/b.bin" and changed.expected != changed.actual
        assert changed.actual is not None and len(changed.actual) == 64
    else:
        assert report.package_sha256_actual != report.package_sha256_expected
    assert (await storage.client.get_aip(aip_uuid)).status == PackageStatus.failed
    assert ("fixity check", "Fail") in await event_types(storage, aip_uuid)

    recovered = await storage.client.recover_aip(aip_uuid)
    assert recovered.replica_uuid == replica.uuid and recovered.after.success and not recovered.before.success
    assert recovered.package.status == PackageStatus.verified
    if kind == "folder":
        assert {p: p.read_bytes() for p in files_under(primary)} == original
    else:
        assert primary.read_bytes() == original
    assert ("recovery", "Pass") in await event_types(storage, aip_uuid)
    with pytest.raises(ServiceError) as caught:
        await storage.client.recover_aip(aip_uuid)
    assert caught.value.status == 409


async def test_fixity_reports_missing_changed_and_untracked_files(storage: Storage, tmp_path: Path) -> None:
    aip_uuid, _bag_dir, _ = await store(storage, tmp_path, "folder")
    primary = stored_path(storage, (await storage.client.get_aip(aip_uuid)).current_path)
    expected_a = hashlib.sha256((primary / "data/objects/a.txt").read_bytes()).hexdigest()
    (primary / "data/objects/a.txt").unlink()
    (primary / "data/objects/new.txt").write_text("not in any manifest")
    (primary / "bag-info.txt").write_text("Tampered: yes\n")
    report = await storage.client.check_aip_fixity(aip_uuid)
    assert not report.success
    assert [(p.path, p.expected, p.actual) for p in report.missing] == [("data/objects/a.txt", expected_a, None)]
    assert [(p.path, p.expected) for p in report.untracked] == [("data/objects/new.txt", None)]
    assert report.untracked[0].actual == hashlib.sha256(b"not in any manifest").hexdigest()
    assert [p.path for p in report.changed] == ["bag-info.txt"]


@pytest.mark.parametrize("kind", ["7z", "folder"])
async def test_deletion_only_after_approval_by_another_user(storage: Storage, tmp_path: Path, kind: str) -> None:
    await add_replicator(storage, tmp_path)
    aip_uuid, _bag_dir, _ = await store(storage, tmp_path, kind)
    package = await storage.client.get_aip(aip_uuid)
    primary = stored_path(storage, package.current_path)
    replica = storage.settings.data_dir / "replica" / package.current_path
    alice, bob = storage.as_user("alice"), storage.as_user("bob")
    try:
        request = await alice.request_aip_deletion(aip_uuid, "Donor withdrew the collection")
        assert (request.requested_by, request.status) == ("alice", DeletionRequestStatus.pending)
        assert (await storage.client.get_aip(aip_uuid)).status == PackageStatus.deletion_requested
        with pytest.raises(ServiceError) as caught:
            await alice.approve_deletion(request.uuid)
        assert caught.value.status == 403
        assert primary.exists() and replica.exists()

        rejected = await bob.reject_deletion(request.uuid, "Keep it")
        assert (rejected.status, rejected.decided_by) == (DeletionRequestStatus.rejected, "bob")
        assert (await storage.client.get_aip(aip_uuid)).status == PackageStatus.stored
        assert primary.exists() and replica.exists()

        again = await alice.request_aip_deletion(aip_uuid, "Really withdrawn")
        approved = await bob.approve_deletion(again.uuid, "Confirmed with the donor")
        assert approved.status == DeletionRequestStatus.approved
    finally:
        await alice.aclose()
        await bob.aclose()
    assert (await storage.client.get_aip(aip_uuid)).status == PackageStatus.deleted
    assert not primary.exists() and not replica.exists()
    [replica_record] = await storage.client.list_aip_replicas(aip_uuid)
    assert replica_record.status == PackageStatus.deleted
    [aip_location] = await storage.client.list_locations(LocationPurpose.aip_storage)
    assert aip_location.used == 0
    types = [t for t, _ in await event_types(storage, aip_uuid)]
    assert types.count("deletion request") == 2
    assert "deletion request rejected" in types and "deletion" in types
    download = await storage.http.get(f"/aips/{aip_uuid}/download")
    assert download.status_code == 409


async def test_location_audit_checks_every_package(storage: Storage, tmp_path: Path) -> None:
    good, _, _ = await store(storage, tmp_path / "one", "7z")
    bad, _, _ = await store(storage, tmp_path / "two", "folder")
    bad_path = stored_path(storage, (await storage.client.get_aip(bad)).current_path)
    flip_one_byte(bad_path / "data" / "objects" / "a.txt")
    [location] = await storage.client.list_locations(LocationPurpose.aip_storage)
    audit = await storage.client.start_location_audit(location.uuid)
    for _ in range(200):
        audit = await storage.client.get_audit(audit.uuid)
        if audit.status != AuditStatus.running:
            break
        await asyncio.sleep(0.05)
    assert (audit.status, audit.checked, audit.failed, audit.failed_packages) == (
        AuditStatus.finished, 2, 1, [bad])
    assert (await storage.client.get_aip(good)).status == PackageStatus.verified


def tar_with(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


async def test_unsafe_or_invalid_folder_uploads_store_nothing(storage: Storage, tmp_path: Path) -> None:
    evil = tar_with([(tarfile.TarInfo("../evil.txt"), b"x")])
    link = tarfile.TarInfo("bag/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    for body in (evil, tar_with([(link, b"")]), b"not a tar at all" * 100):
        response = await storage.http.put(f"/aips/{uuid.uuid4()}", params={"name": "x", "uncompressed": "true"},
                                          content=body)
        assert response.status_code == 422, response.text
    bag_dir = make_bag(tmp_path / "work", "Bad", uuid.uuid4())
    (bag_dir / "data" / "objects" / "a.txt").write_text("changed after bagging")
    with pytest.raises(ServiceError) as caught:
        await storage.client.store_aip_folder(uuid.uuid4(), "Bad", bag_dir)
    assert caught.value.status == 422
    assert (await storage.client.list_aips()).total == 0
    assert files_under(storage.aip_dir) == []
    assert not (tmp_path / "evil.txt").exists() and not (storage.aip_dir / "evil.txt").exists()


async def test_storing_the_same_folder_twice_is_one_package(storage: Storage, tmp_path: Path) -> None:
    aip_uuid, bag_dir, _ = await store(storage, tmp_path, "folder")
    again = await storage.client.store_aip_folder(aip_uuid, "Hart", bag_dir)
    assert again.uuid == aip_uuid and again.status == PackageStatus.stored
    assert (await storage.client.list_aips()).total == 1
    [location] = await storage.client.list_locations(LocationPurpose.aip_storage)
    assert location.used == again.size


async def test_a_dropped_folder_upload_leaves_no_package_and_no_file(storage: Storage, tmp_path: Path) -> None:
    aip_uuid = uuid.uuid4()
    bag_dir = make_bag(tmp_path / "work", "Cut", aip_uuid)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(bag_dir, arcname=bag_dir.name)
    whole = buffer.getvalue()

    async def breaks_midway() -> AsyncIterator[bytes]:
        yield whole[: len(whole) // 2]
        raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError, match="connection lost"):
        await storage.http.put(f"/aips/{aip_uuid}", params={"name": "Cut", "uncompressed": "true"},
                               content=breaks_midway(), headers={"Content-Length": str(len(whole))})
    assert (await storage.http.get(f"/aips/{aip_uuid}")).status_code == 404
    assert files_under(storage.aip_dir) == []
    assert list((storage.aip_dir / ".incoming").iterdir()) == []
    package = await storage.client.store_aip_folder(aip_uuid, "Cut", bag_dir)
    assert package.status == PackageStatus.stored


async def test_colliding_tar_members_are_refused(storage: Storage) -> None:
    folder = tarfile.TarInfo("bag/a")
    folder.type = tarfile.DIRTYPE
    for members in ([(tarfile.TarInfo("bag/a"), b"x"), (tarfile.TarInfo("bag/a/b"), b"y")],
                    [(folder, b""), (tarfile.TarInfo("bag/a"), b"x")],
                    [(tarfile.TarInfo("bag/a"), b"x"), (tarfile.TarInfo("bag/a"), b"y")]):
        response = await storage.http.put(f"/aips/{uuid.uuid4()}", params={"name": "x", "uncompressed": "true"},
                                          content=tar_with(members))
        assert response.status_code == 422, response.text
    assert files_under(storage.aip_dir) == []
