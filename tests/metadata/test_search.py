"""Search over 1,000 indexed AIPs: found by a DC title word, by PUID and by file name within a second of the AIP
being marked stored; a failed index never fails the caller. SQLite FTS5 and PostgreSQL full text."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from clients.metadata import MetadataClient, PackageUpsert
from clients.metadata.schemas import AipPackageRecord
from servicekit.db import session_factory, unit_of_work
from services.metadata.db import insert_ignoring
from services.metadata.packages import repository as packages_repository
from services.metadata.record import repository as record_repository
from services.metadata.search import service as search_service
from tests.metadata.conftest import TOKEN
from tests.metadata.factories import file_record

PACKAGES = 1000


async def seed(engine: AsyncEngine, metadata: MetadataClient) -> None:
    """999 indexed AIPs written in bulk by the service's own repositories and indexer (HTTP would be slow here)."""
    uuids = [uuid.uuid4() for _ in range(PACKAGES - 1)]
    now = datetime.now(UTC)
    async with unit_of_work(session_factory(engine)) as session:
        await insert_ignoring(session, packages_repository.package_table, [
            {"uuid": u, "name": f"collection-{n:04d}", "transfer_uuid": None, "created_at": now}
            for n, u in enumerate(uuids)
        ], ["uuid"])
        await record_repository.insert_descriptive(session, [
            {"package_uuid": u, "path": "objects", "kind": "dublin_core",
             "elements": f'{{"dc.title": ["Minutes of meeting {n}"]}}'} for n, u in enumerate(uuids)
        ])
    await asyncio.gather(*(
        metadata.add_files(u, [file_record(f"objects/doc-{i}.txt", package_uuid=u, with_events=False)
                               for i in range(3)])
        for u in uuids[:50]
    ))
    async with unit_of_work(session_factory(engine)) as session:
        for package_uuid in uuids:
            await search_service.index_package(session, package_uuid, 5000)


async def test_search_finds_an_aip_within_a_second_of_it_being_stored(
    metadata: MetadataClient, db_engine: AsyncEngine
) -> None:
    await seed(db_engine, metadata)
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="Hart_papers"))
    await metadata.add_files(package_uuid, [
        file_record("objects/letters/Zanzibar_voyage.txt", package_uuid=package_uuid),
        file_record("objects/photos/harbour.jp2", package_uuid=package_uuid, puid="x-fmt/392",
                    format_name="JPEG 2000"),
    ])
    await metadata.add_descriptive_metadata(
        package_uuid, [{"path": "objects", "elements": {"dc.title": ["Correspondence of the Albatross expedition"]}}]
    )
    started = time.perf_counter()
    await metadata.record_aip(package_uuid, AipPackageRecord(size=10, checksum="00" * 32))

    async def found() -> tuple[bool, bool, bool]:
        by_title = await metadata.search("albatross")
        by_puid = await metadata.search(puid="x-fmt/392")
        by_name = await metadata.search("zanzibar voyage", kind="file")
        return (
            [h.package_uuid for h in by_title.items] == [package_uuid] and by_title.items[0].kind == "package",
            [h.path for h in by_puid.items] == ["objects/photos/harbour.jp2"],
            [h.package_uuid for h in by_name.items] == [package_uuid],
        )

    while not all(await found()):
        assert time.perf_counter() - started < 1.0, await found()
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    print(f"{db_engine.dialect.name}: found {elapsed * 1000:.0f} ms after being marked stored")
    assert (await metadata.index_status(package_uuid)).state == "indexed"

    everything = await metadata.search("minutes meeting", limit=10, sort="name", order="desc")
    assert everything.total == PACKAGES - 1 and len(everything.items) == 10
    assert everything.items[0].name == "collection-0998"
    files = await metadata.search(kind="file", min_size=1, sort="size", limit=5)
    assert files.total == 50 * 3 + 2
    assert (await metadata.search(date_from=datetime(2030, 1, 1, tzinfo=UTC).isoformat(), kind="file")).total == 0


async def test_a_failed_index_never_fails_the_caller(metadata: MetadataClient, db_engine: AsyncEngine) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="broken"))
    await metadata.add_files(package_uuid, [file_record("objects/a.txt", package_uuid=package_uuid)])
    async with db_engine.begin() as conn:
        await conn.execute(text("DROP TABLE search_entry"))
    stored = await metadata.record_aip(package_uuid, AipPackageRecord(size=1, checksum="00" * 32))
    assert stored.package_uuid == package_uuid
    for _ in range(100):
        status = await metadata.index_status(package_uuid)
        if status.state != "queued":
            break
        await asyncio.sleep(0.02)
    assert status.state == "failed" and status.error


@pytest.mark.parametrize("params", [{"min_size": str(2**70)}, {"max_size": str(2**64)}, {"offset": str(2**64)}])
async def test_huge_numbers_in_a_search_are_a_422_not_a_500(http: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await http.get("/search", params=params, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422, response.text


async def test_an_indexing_queued_before_a_removal_does_not_put_the_package_back(
    metadata: MetadataClient, db_engine: AsyncEngine
) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="withdrawn-collection"))
    await metadata.add_files(package_uuid, [file_record("objects/letter.txt", package_uuid=package_uuid)])
    async with unit_of_work(session_factory(db_engine)) as session:
        await search_service.request_index(session, package_uuid)
    assert (await metadata.remove_from_index(package_uuid)).state == "removed"
    # The indexer picks up what was queued before the removal: it leaves the package out.
    async with unit_of_work(session_factory(db_engine)) as session:
        assert await search_service.index_package(session, package_uuid, 5000) is None
    assert (await metadata.search("withdrawn")).total == 0
    assert (await metadata.index_status(package_uuid)).state == "removed"


async def test_files_are_found_by_the_types_of_their_events(metadata: MetadataClient, db_engine: AsyncEngine) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="Event_words"))
    await metadata.add_files(package_uuid, [
        file_record("objects/with-events-1.txt", package_uuid=package_uuid),
        file_record("objects/with-events-2.txt", package_uuid=package_uuid, puid=None),
        file_record("objects/without-events.txt", package_uuid=package_uuid, with_events=False),
    ])
    async with unit_of_work(session_factory(db_engine)) as session:
        assert await search_service.index_package(session, package_uuid, 2) == 3  # two pages of files
    by_event = await metadata.search("digest calculation", kind="file", package_uuid=package_uuid)
    assert sorted(str(h.path) for h in by_event.items) == ["objects/with-events-1.txt", "objects/with-events-2.txt"]
    assert (await metadata.search("ingestion", kind="file", package_uuid=package_uuid)).total == 2
