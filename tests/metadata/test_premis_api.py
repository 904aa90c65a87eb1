"""PREMIS records over the real app: idempotent bulk writes, conflicts, pagination, auth; SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from clients.metadata import FileRelationships, MetadataClient, PackageUpsert, RelationshipRecord
from servicekit.http import ServiceError
from tests.conftest import asgi_client
from tests.metadata.conftest import TOKEN
from tests.metadata.factories import AGENTS, compression_event, file_record, file_records


async def new_package(metadata: MetadataClient, name: str = "Hart papers") -> uuid.UUID:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name=name, transfer_uuid=uuid.uuid4()))
    return package_uuid


async def table_count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(text(table)))).scalar_one())


async def test_package_upsert_is_idempotent(metadata: MetadataClient) -> None:
    package_uuid = uuid.uuid4()
    transfer_uuid = uuid.uuid4()
    first = await metadata.upsert_package(package_uuid, PackageUpsert(name="Box 1", transfer_uuid=transfer_uuid))
    again = await metadata.upsert_package(package_uuid, PackageUpsert(name="Box 1", transfer_uuid=transfer_uuid))
    assert again == first
    assert (first.file_count, first.event_count) == (0, 0)
    assert first.created_at.tzinfo is not None
    renamed = await metadata.upsert_package(package_uuid, PackageUpsert(name="Box one"))
    assert renamed.name == "Box one" and renamed.created_at == first.created_at
    assert (await metadata.get_package(package_uuid)).name == "Box one"
    with pytest.raises(ServiceError) as missing:
        await metadata.get_package(uuid.uuid4())
    assert missing.value.status == 404


async def test_retried_file_batch_changes_nothing(metadata: MetadataClient, db_engine: AsyncEngine) -> None:
    package_uuid = await new_package(metadata)
    files = file_records(package_uuid, 60)
    first = await metadata.add_files(package_uuid, files)
    assert (first.created, first.unchanged) == (60, 0)
    retried = await metadata.add_files(package_uuid, files)
    assert (retried.created, retried.unchanged) == (0, 60)
    # A batch overlapping the recorded ones writes only what is new.
    more = file_records(package_uuid, 80)
    overlap = await metadata.add_files(package_uuid, more[40:])
    assert (overlap.created, overlap.unchanged) == (20, 20)

    package = await metadata.get_package(package_uuid)
    assert (package.file_count, package.event_count) == (80, 240)
    assert await table_count(db_engine, "file") == 80
    assert await table_count(db_engine, "event") == 240
    assert await table_count(db_engine, "agent") == len(AGENTS)
    assert await table_count(db_engine, "event_agent") == 240 * len(AGENTS)


async def test_relationships_are_added_to_recorded_files_once(metadata: MetadataClient) -> None:
    """An original recorded before its derivative was made gets its `is source of` later; a manually normalized
    file also changes fileGrp. Retrying adds nothing; an unknown file is a 404."""
    package_uuid = await new_package(metadata)
    original, made = file_records(package_uuid, 2)
    await metadata.add_files(package_uuid, [original, made])
    event = uuid.uuid4()
    body = [
        FileRelationships(file_uuid=original.uuid, relationships=[RelationshipRecord(
            subtype="is source of", related_object_uuid=made.uuid, related_event_uuid=event)]),
        FileRelationships(file_uuid=made.uuid, use="preservation", relationships=[RelationshipRecord(
            subtype="has source", related_object_uuid=original.uuid, related_event_uuid=event)]),
    ]
    first = await metadata.add_relationships(package_uuid, body)
    assert (first.created, first.unchanged) == (2, 0)
    again = await metadata.add_relationships(package_uuid, body)
    assert again.created == 0
    files = {f.uuid: f for f in (await metadata.list_files(package_uuid)).items}
    assert [(r.subtype, r.related_object_uuid) for r in files[original.uuid].relationships] == [
        ("is source of", made.uuid)]
    assert files[made.uuid].use == "preservation"
    assert [r.related_event_uuid for r in files[made.uuid].relationships] == [event]
    with pytest.raises(ServiceError) as missing:
        await metadata.add_relationships(package_uuid, [FileRelationships(
            file_uuid=uuid.uuid4(), relationships=body[0].relationships)])
    assert missing.value.status == 404


async def test_files_are_paginated_in_byte_order_of_path(metadata: MetadataClient) -> None:
    package_uuid = await new_package(metadata)
    paths = ["objects/b.txt", "objects/a b/x.txt", "objects/a/z.txt", "objects/a/y.txt", "objects/Z.txt",
             "objects/a-c/w.txt", "objects/é.txt"]
    await metadata.add_files(package_uuid, [file_record(p, package_uuid=package_uuid) for p in paths])
    listed: list[str] = []
    for offset in range(0, 7, 3):
        page = await metadata.list_files(package_uuid, limit=3, offset=offset)
        assert page.total == 7 and page.limit == 3 and page.offset == offset
        listed += [item.path for item in page.items]
    assert listed == sorted(paths, key=lambda p: p.encode())
    first = (await metadata.list_files(package_uuid, limit=1)).items[0]
    assert first.package_uuid == package_uuid and first.checksum_type == "sha256"
    assert first.modified_at is not None and first.modified_at.tzinfo is not None


async def test_events_are_listed_with_agents_and_filtered_by_object(metadata: MetadataClient) -> None:
    package_uuid = await new_package(metadata)
    files = file_records(package_uuid, 4)
    await metadata.add_files(package_uuid, files)
    page = await metadata.list_events(package_uuid, limit=5)
    assert page.total == 12 and len(page.items) == 5
    mine = await metadata.list_events(package_uuid, object_uuid=files[2].uuid)
    assert [e.type for e in mine.items] == ["ingestion", "message digest calculation", "format identification"]
    digest = mine.items[1]
    assert digest.detail == 'program="python"; module="hashlib.sha256()"'
    assert digest.outcome_note == files[2].checksum
    assert {a.identifier_type for a in digest.agents} == {a.identifier_type for a in AGENTS}
    assert all(e.object_uuid == files[2].uuid for e in mine.items)


async def test_package_events_are_idempotent(metadata: MetadataClient) -> None:
    package_uuid = await new_package(metadata)
    event = compression_event(package_uuid)
    assert (await metadata.add_events(package_uuid, [event])).created == 1
    again = await metadata.add_events(package_uuid, [event])
    assert (again.created, again.unchanged) == (0, 1)
    listed = await metadata.list_events(package_uuid, object_uuid=package_uuid)
    assert [e.type for e in listed.items] == ["compression"]
    with pytest.raises(ServiceError) as elsewhere:
        await metadata.add_events(await new_package(metadata, "other"), [event])
    assert elsewhere.value.status == 409


async def test_conflicting_and_invalid_batches_are_refused(metadata: MetadataClient) -> None:
    package_uuid = await new_package(metadata)
    original = file_record("objects/a.txt", package_uuid=package_uuid)
    await metadata.add_files(package_uuid, [original])
    usurper = original.model_copy(update={"uuid": uuid.uuid4(), "events": []})
    with pytest.raises(ServiceError) as taken:
        await metadata.add_files(package_uuid, [usurper])
    assert taken.value.status == 409
    moved = original.model_copy(update={"path": "objects/b.txt"})
    with pytest.raises(ServiceError) as conflict:
        await metadata.add_files(package_uuid, [moved])
    assert conflict.value.status == 409
    twin = file_record("objects/c.txt", package_uuid=package_uuid)
    with pytest.raises(ServiceError) as duplicated:
        await metadata.add_files(package_uuid, [twin, twin])
    assert duplicated.value.status == 422
    with pytest.raises(ServiceError) as unknown:
        await metadata.add_files(uuid.uuid4(), [twin])
    assert unknown.value.status == 404
    assert (await metadata.get_package(package_uuid)).file_count == 1


async def test_paths_must_stay_inside_the_package(metadata_app: FastAPI) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with asgi_client(metadata_app) as client:
        package_uuid = uuid.uuid4()
        await client.put(f"/premis/packages/{package_uuid}", json={"name": "x"}, headers=headers)
        body = file_record("objects/a.txt", package_uuid=package_uuid).model_dump(mode="json")
        for bad in ("../etc/passwd", "/abs/path", "objects//a", "objects/./a"):
            response = await client.post(
                f"/premis/packages/{package_uuid}/files", json={"files": [{**body, "path": bad}]}, headers=headers
            )
            assert response.status_code == 422, bad
            assert response.headers["content-type"].startswith("application/problem+json")


async def test_every_operation_requires_the_internal_token(metadata_app: FastAPI) -> None:
    package_uuid = uuid.uuid4()
    async with asgi_client(metadata_app) as client:
        for method, path in [
            ("PUT", f"/premis/packages/{package_uuid}"),
            ("GET", f"/premis/packages/{package_uuid}"),
            ("POST", f"/premis/packages/{package_uuid}/files"),
            ("GET", f"/premis/packages/{package_uuid}/files"),
            ("POST", f"/premis/packages/{package_uuid}/events"),
            ("GET", f"/premis/packages/{package_uuid}/events"),
            ("GET", f"/mets/{package_uuid}"),
        ]:
            response = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
            assert response.status_code == 401, (method, path)


async def test_5000_files_with_3_events_each_in_one_call(metadata: MetadataClient, db_engine: AsyncEngine) -> None:
    package_uuid = await new_package(metadata)
    files = file_records(package_uuid, 5000)
    started = time.perf_counter()
    result = await metadata.add_files(package_uuid, files)
    elapsed = time.perf_counter() - started
    assert (result.created, result.unchanged) == (5000, 0)
    started = time.perf_counter()
    retried = await metadata.add_files(package_uuid, files)
    retry_elapsed = time.perf_counter() - started
    assert (retried.created, retried.unchanged) == (0, 5000)
    assert await table_count(db_engine, "event_agent") == 5000 * 3 * len(AGENTS)
    print(f"{db_engine.dialect.name}: 5000 files + 15000 events in {elapsed:.2f}s, retry {retry_elapsed:.2f}s")
    # Generous bound (the machine may be busy); it is well under 2 s on an idle one.
    assert elapsed < 20
