"""A deleted AIP leaves search: the storage service tells the real metadata service when a deletion is approved."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from clients.metadata.schemas import AipPackageRecord
from clients.storage import PackageStatus
from tests.storage.harness import Storage
from tests.storage.test_lifecycle import sha256_of, store


async def indexed_hits(storage: Storage, aip_uuid: uuid.UUID, q: str) -> list[uuid.UUID]:
    hits = await storage.metadata.search(q, package_uuid=aip_uuid)
    return [hit.package_uuid for hit in hits.items]


async def wait_until_indexed(storage: Storage, aip_uuid: uuid.UUID) -> None:
    deadline = time.monotonic() + 15
    while (await storage.metadata.index_status(aip_uuid)).state != "indexed":
        assert time.monotonic() < deadline, await storage.metadata.index_status(aip_uuid)
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", ["7z", "folder"])
async def test_an_approved_deletion_takes_the_aip_out_of_search(storage: Storage, tmp_path: Path, kind: str) -> None:
    aip_uuid, _bag, archive = await store(storage, tmp_path, kind)
    # What the ingest workflow does once the AIP is stored: record it, which queues it for search.
    await storage.metadata.record_aip(aip_uuid, AipPackageRecord(
        size=1, checksum=sha256_of(archive) if archive else "0" * 64,
    ))
    await wait_until_indexed(storage, aip_uuid)
    assert aip_uuid in await indexed_hits(storage, aip_uuid, "Hart")
    assert (await storage.metadata.search("Hart")).total >= 1
    alice, bob = storage.as_user("alice"), storage.as_user("bob")
    try:
        request = await alice.request_aip_deletion(aip_uuid, "Donor withdrew the collection")
        # Only an approved deletion removes it: a pending request leaves the AIP findable.
        assert aip_uuid in await indexed_hits(storage, aip_uuid, "Hart")
        await bob.approve_deletion(request.uuid)
    finally:
        await alice.aclose()
        await bob.aclose()
    assert (await storage.client.get_aip(aip_uuid)).status == PackageStatus.deleted
    assert await indexed_hits(storage, aip_uuid, "Hart") == []
    assert await indexed_hits(storage, aip_uuid, "") == []  # not its files either
    assert (await storage.metadata.search("Hart")).total == 0
    assert (await storage.metadata.index_status(aip_uuid)).state == "removed"

    # Repeating the removal is harmless; asking for the package to be indexed again puts it back.
    again = await storage.metadata.remove_from_index(aip_uuid)
    assert again.state == "removed"
    await storage.metadata.index_package(aip_uuid)
    await wait_until_indexed(storage, aip_uuid)
    assert aip_uuid in await indexed_hits(storage, aip_uuid, "Hart")
