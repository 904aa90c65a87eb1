"""The storage service's domain events, read from its outbox: each fact (AIP and DIP stored, replication done or
failed, fixity passed or failed, AIP recovered, deletion requested, rejected and approved) records its event once,
with its versioned payload, and an action that fails records none."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from clients.outbox import OutboxEvent
from clients.storage import DeletionRequestStatus, LocationPurpose
from servicekit.db import unit_of_work
from servicekit.http import ServiceError
from services.storage.domain_events import OUTBOX
from tests.storage.harness import Storage
from tests.storage.test_lifecycle import add_replicator, flip_one_byte, make_bag, pack, sha256_of, store, stored_path


class Outbox:
    """The events the storage service recorded since the last look (nothing collects them in these tests)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.seen = 0

    async def new(self) -> list[OutboxEvent]:
        async with unit_of_work(self.storage.app.state.sessions) as session:
            events = await OUTBOX.oldest(session, 10_000)
        fresh, self.seen = events[self.seen:], len(events)
        return fresh

    async def types(self) -> list[str]:
        return [e.type for e in await self.new()]


def only(events: list[OutboxEvent], type_: str) -> OutboxEvent:
    [event] = [e for e in events if e.type == type_]
    assert event.source == "storage" and event.type.endswith(".v1")
    return event


async def refused(call: Any, status: int) -> None:
    with pytest.raises(ServiceError) as caught:
        await call
    assert caught.value.status == status


async def test_store_replication_fixity_and_recovery_events(storage: Storage, tmp_path: Path) -> None:
    outbox = Outbox(storage)
    replicator = await add_replicator(storage, tmp_path)
    await outbox.new()

    # A package whose checksum does not match is refused: nothing stored, nothing said.
    bad = tmp_path / "bad.7z"
    bad.write_bytes(b"not what the checksum says")
    await storage.register(bad_uuid := uuid.uuid4(), "Bad")
    await refused(storage.client.store_aip(bad_uuid, "Bad", hashlib.sha256(b"other").hexdigest(), bad), 422)
    assert await outbox.types() == []

    aip_uuid, _, archive = await store(storage, tmp_path, "7z")
    assert archive is not None
    events = await outbox.new()
    assert [e.type for e in events] == ["aip.stored.v1", "replication.done.v1"]
    package = await storage.client.get_aip(aip_uuid)
    stored = only(events, "aip.stored.v1")
    assert stored.subject == aip_uuid and stored.payload["package_type"] == "aip"
    assert (stored.payload["sha256"], stored.payload["size"]) == (sha256_of(archive), archive.stat().st_size)
    assert stored.payload["location_uuid"] == str(package.location_uuid)
    [replica] = await storage.client.list_aip_replicas(aip_uuid)
    done = only(events, "replication.done.v1")
    assert done.subject == aip_uuid and done.payload == {
        "package_uuid": str(aip_uuid), "replica_uuid": str(replica.uuid), "location_uuid": str(replicator)}

    assert (await storage.client.check_aip_fixity(aip_uuid)).success
    assert (await storage.client.check_aip_fixity(replica.uuid)).success
    passed = await outbox.new()
    assert [e.type for e in passed] == ["fixity.passed.v1", "fixity.passed.v1"]
    assert [(e.subject, e.payload["checked_uuid"], e.payload["replica"]) for e in passed] == [
        (aip_uuid, str(aip_uuid), False), (aip_uuid, str(replica.uuid), True)]
    assert passed[0].payload["files_checked"] > 0 and "files" not in passed[0].payload

    # Recovering an AIP that passes is refused: no recovery event (its fixity check is a fact of its own).
    await refused(storage.client.recover_aip(aip_uuid), 409)
    assert await outbox.types() == ["fixity.passed.v1"]
    await refused(storage.client.check_aip_fixity(uuid.uuid4()), 404)
    assert await outbox.types() == []

    flip_one_byte(stored_path(storage, package.current_path))
    assert not (await storage.client.check_aip_fixity(aip_uuid)).success
    failed = only(await outbox.new(), "fixity.failed.v1")
    assert failed.subject == aip_uuid and failed.payload["checked_uuid"] == str(aip_uuid)
    assert failed.payload["package_sha256_expected"] == sha256_of(archive)
    assert failed.payload["package_sha256_actual"] not in (None, sha256_of(archive))
    assert {"files", "files_total", "errors"} <= failed.payload.keys()

    recovered = await storage.client.recover_aip(aip_uuid)
    # The checks recovery makes (the AIP failing, the replica passing, the AIP restored), then the recovery.
    events = await outbox.new()
    assert [e.type for e in events] == ["fixity.failed.v1", "fixity.passed.v1", "fixity.passed.v1",
                                        "aip.recovered.v1"]
    assert only(events, "aip.recovered.v1").payload == {
        "package_uuid": str(aip_uuid), "replica_uuid": str(recovered.replica_uuid), "fixity_ok": True}


async def test_a_recovery_with_no_good_replica_says_so(storage: Storage, tmp_path: Path) -> None:
    outbox = Outbox(storage)
    await add_replicator(storage, tmp_path)
    aip_uuid, _, _ = await store(storage, tmp_path, "7z")
    [replica] = await storage.client.list_aip_replicas(aip_uuid)
    flip_one_byte(stored_path(storage, (await storage.client.get_aip(aip_uuid)).current_path))
    flip_one_byte(storage.settings.data_dir / "replica" / replica.current_path)
    await outbox.new()

    await refused(storage.client.recover_aip(aip_uuid), 409)
    events = await outbox.new()
    assert "aip.recovered.v1" not in [e.type for e in events]
    failed = only(events, "aip.recovery.failed.v1")
    assert failed.subject == aip_uuid and failed.payload == {
        "package_uuid": str(aip_uuid), "replica_uuid": None, "reason": "no replica passed its fixity check"}


async def test_a_failed_replication_says_so_and_nothing_else(storage: Storage, tmp_path: Path) -> None:
    outbox = Outbox(storage)
    replicator = await add_replicator(storage, tmp_path)
    # The replicator's folder turns into a file: the copy cannot be written there.
    folder = storage.settings.data_dir / "replica"
    for leftover in sorted(folder.rglob("*"), reverse=True):
        leftover.rmdir() if leftover.is_dir() else leftover.unlink()
    folder.rmdir()
    folder.write_bytes(b"in the way")
    await outbox.new()

    aip_uuid, _, _ = await store(storage, tmp_path, "7z")
    events = await outbox.new()
    assert [e.type for e in events] == ["aip.stored.v1", "replication.failed.v1"]
    [replica] = await storage.client.list_aip_replicas(aip_uuid)
    assert replica.status == "failed"
    failed = only(events, "replication.failed.v1")
    assert failed.subject == aip_uuid
    assert (failed.payload["replica_uuid"], failed.payload["location_uuid"]) == (str(replica.uuid), str(replicator))
    assert failed.payload["reason"]


async def test_a_dip_stored_once_and_not_when_refused(storage: Storage, tmp_path: Path) -> None:
    outbox = Outbox(storage)
    aip_uuid, dip_uuid = uuid.uuid4(), uuid.uuid4()
    archive = pack(make_bag(tmp_path / "dip", "Hart", dip_uuid), "7z")
    await refused(storage.client.store_dip(dip_uuid, "Hart", hashlib.sha256(b"x").hexdigest(), archive,
                                           aip_uuid=aip_uuid), 422)
    assert await outbox.types() == []
    await storage.client.store_dip(dip_uuid, "Hart", sha256_of(archive), archive, aip_uuid=aip_uuid)
    # Storing the same DIP again changes nothing, and says nothing.
    await storage.client.store_dip(dip_uuid, "Hart", sha256_of(archive), archive, aip_uuid=aip_uuid)
    [event] = await outbox.new()
    [dip_location] = await storage.client.list_locations(LocationPurpose.dip_storage)
    assert (event.type, event.subject, event.related) == ("dip.stored.v1", dip_uuid, aip_uuid)
    assert event.payload["related_package_uuid"] == str(aip_uuid)
    assert event.payload["package_type"] == "dip" and event.payload["location_uuid"] == str(dip_location.uuid)
    assert event.payload["sha256"] == sha256_of(archive)


async def test_deletion_events_follow_the_decisions(storage: Storage, tmp_path: Path) -> None:
    outbox = Outbox(storage)
    await add_replicator(storage, tmp_path)
    aip_uuid, _, _ = await store(storage, tmp_path, "7z")
    [replica] = await storage.client.list_aip_replicas(aip_uuid)
    await outbox.new()
    alice, bob = storage.as_user("alice"), storage.as_user("bob")
    try:
        await refused(alice.request_aip_deletion(replica.uuid, "A replica is not deleted alone"), 409)
        request = await alice.request_aip_deletion(aip_uuid, "Donor withdrew the collection")
        await refused(bob.request_aip_deletion(aip_uuid, "Twice"), 409)
        await refused(alice.approve_deletion(request.uuid), 403)  # not by its requester
        await refused(alice.reject_deletion(request.uuid, "Mine"), 403)
        requested = only(await outbox.new(), "deletion.requested.v1")
        assert requested.subject == aip_uuid
        assert (requested.payload["uuid"], requested.payload["requested_by"], requested.payload["reason"],
                requested.payload["status"]) == (str(request.uuid), "alice", "Donor withdrew the collection",
                                                  "pending")

        await bob.reject_deletion(request.uuid, "Keep it")
        await refused(bob.approve_deletion(request.uuid), 409)  # already decided
        rejected = only(await outbox.new(), "deletion.rejected.v1")
        assert (rejected.subject, rejected.payload["uuid"], rejected.payload["decided_by"],
                rejected.payload["note"]) == (aip_uuid, str(request.uuid), "bob", "Keep it")

        again = await alice.request_aip_deletion(aip_uuid, "Really withdrawn")
        await bob.approve_deletion(again.uuid, "Confirmed with the donor")
    finally:
        await alice.aclose()
        await bob.aclose()
    events = await outbox.new()
    assert [e.type for e in events] == ["deletion.requested.v1", "deletion.approved.v1", "aip.deleted.v1"]
    approved = only(events, "deletion.approved.v1")
    assert (approved.payload["uuid"], approved.payload["status"], approved.payload["decided_by"]) == (
        str(again.uuid), DeletionRequestStatus.approved.value, "bob")
    deleted = only(events, "aip.deleted.v1")
    assert deleted.payload["deletion_request_uuid"] == str(again.uuid) and deleted.payload["replicas_deleted"] == 1
    # A deleted package can be asked for deletion no more.
    await refused(storage.client.request_aip_deletion(aip_uuid, "Again"), 409)
    assert await outbox.types() == []

