"""AIPs: streamed, checksummed storage at the quad path, idempotent retries, ranged downloads."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Message

from clients.storage import LocationPurpose, PackageStatus, PackageType
from servicekit.db import unit_of_work
from servicekit.http import ServiceError
from services.storage.packages.models import Package
from tests.storage.harness import Storage, files_under, write_random_file

AIP_UUID = uuid.UUID("d31cc44f-ce01-4e67-affe-513868d9cf3d")
QUAD_PATH = "d31c/c44f/ce01/4e67/affe/5138/68d9/cf3d"
SIZE = 3 * 1024 * 1024 + 4321  # a few MiB, not a multiple of any chunk size


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body


def assert_location_empty(storage: Storage) -> None:
    """Nothing under the AIP store: no package file, and nothing left staged in .incoming either."""
    assert files_under(storage.aip_dir) == []
    incoming = storage.aip_dir / ".incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []


async def test_store_puts_the_aip_at_its_quad_path(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "upload.7z"
    sha256 = write_random_file(source, SIZE)
    package = await storage.client.store_aip(AIP_UUID, "Hart_papers", sha256, source)

    expected_path = f"{QUAD_PATH}/Hart_papers-{AIP_UUID}.7z"
    assert package.uuid == AIP_UUID
    assert package.status == PackageStatus.stored
    assert package.current_path == expected_path
    assert (package.size, package.sha256) == (SIZE, sha256)
    assert package.stored_at is not None and package.stored_at.tzinfo is not None
    [aip_location] = await storage.client.list_locations(LocationPurpose.aip_storage)
    assert package.location_uuid == aip_location.uuid
    assert aip_location.used == SIZE

    stored = storage.aip_dir / expected_path
    assert files_under(storage.aip_dir) == [stored]
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha256
    assert list((storage.aip_dir / ".incoming").iterdir()) == []

    assert await storage.client.get_aip(AIP_UUID) == package
    page = await storage.client.list_aips()
    assert (page.total, [p.uuid for p in page.items]) == (1, [AIP_UUID])
    assert "path" not in package.model_dump() and str(storage.aip_dir) not in package.model_dump_json()


async def test_checksum_mismatch_is_422_and_keeps_nothing(storage: Storage) -> None:
    body = b"not the bytes you announced" * 1000
    wrong = hashlib.sha256(b"something else").hexdigest()
    response = await storage.http.put(f"/aips/{AIP_UUID}", params={"name": "bad", "sha256": wrong}, content=body)
    problem = assert_problem(response, 422)
    assert wrong in str(problem["detail"]) and hashlib.sha256(body).hexdigest() in str(problem["detail"])
    assert_problem(await storage.http.get(f"/aips/{AIP_UUID}"), 404)
    assert (await storage.client.list_aips()).total == 0
    assert_location_empty(storage)


async def test_storing_twice_keeps_one_package_and_one_file(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "twice.7z"
    sha256 = write_random_file(source, 512 * 1024)
    params = {"name": "twice", "sha256": sha256.upper()}
    first = await storage.http.put(f"/aips/{AIP_UUID}", params=params, content=source.read_bytes())
    assert first.status_code == 201, first.text
    again = await storage.http.put(f"/aips/{AIP_UUID}", params=params, content=source.read_bytes())
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    via_client = await storage.client.store_aip(AIP_UUID, "twice", sha256, source)
    assert via_client.model_dump(mode="json") == first.json()

    assert (await storage.client.list_aips()).total == 1
    assert len(files_under(storage.aip_dir)) == 1
    [aip_location] = await storage.client.list_locations(LocationPurpose.aip_storage)
    assert aip_location.used == 512 * 1024

    other = b"different content"
    conflict = await storage.http.put(
        f"/aips/{AIP_UUID}", params={"name": "twice", "sha256": hashlib.sha256(other).hexdigest()}, content=other
    )
    assert_problem(conflict, 409)
    assert len(files_under(storage.aip_dir)) == 1
    assert hashlib.sha256(files_under(storage.aip_dir)[0].read_bytes()).hexdigest() == sha256


async def test_download_whole_and_in_ranges(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "download.7z"
    sha256 = write_random_file(source, SIZE)
    data = source.read_bytes()
    await storage.client.store_aip(AIP_UUID, "Hart papers", sha256, source)

    dest = tmp_path / "out" / "copy.7z"
    dest.parent.mkdir()
    assert await storage.client.download_aip(AIP_UUID, dest) == SIZE
    assert dest.read_bytes() == data
    assert not (tmp_path / "out" / "copy.7z.part").exists()

    url = f"/aips/{AIP_UUID}/download"
    whole = await storage.http.get(url)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["content-length"] == str(SIZE)
    assert whole.headers["content-disposition"] == f'attachment; filename="Hart papers-{AIP_UUID}.7z"'
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["etag"] == f'"{sha256}"'

    first_ten = await storage.http.get(url, headers={"Range": "bytes=0-9"})
    assert first_ten.status_code == 206
    assert first_ten.content == data[:10]
    assert first_ten.headers["content-range"] == f"bytes 0-9/{SIZE}"
    assert first_ten.headers["content-length"] == "10"

    last_five = await storage.http.get(url, headers={"Range": "bytes=-5"})
    assert last_five.status_code == 206
    assert last_five.content == data[-5:]
    assert last_five.headers["content-range"] == f"bytes {SIZE - 5}-{SIZE - 1}/{SIZE}"

    tail = await storage.http.get(url, headers={"Range": "bytes=1000000-"})
    assert tail.status_code == 206
    assert tail.content == data[1000000:]
    assert tail.headers["content-range"] == f"bytes 1000000-{SIZE - 1}/{SIZE}"

    clamped = await storage.http.get(url, headers={"Range": f"bytes={SIZE - 3}-{SIZE * 2}"})
    assert (clamped.status_code, clamped.content) == (206, data[-3:])

    beyond = await storage.http.get(url, headers={"Range": f"bytes={SIZE}-"})
    assert_problem(beyond, 416)
    assert beyond.headers["content-range"] == f"bytes */{SIZE}"
    assert_problem(await storage.http.get(url, headers={"Range": "bytes=-0"}), 416)

    stale = await storage.http.get(url, headers={"Range": "bytes=0-9", "If-Range": '"0000"'})
    assert (stale.status_code, len(stale.content)) == (200, SIZE)
    fresh = await storage.http.get(url, headers={"Range": "bytes=0-9", "If-Range": f'"{sha256}"'})
    assert (fresh.status_code, fresh.content) == (206, data[:10])
    for ignored in ("bytes=0-1,5-6", "items=0-9", "bytes=9-0", "bytes=x-y"):
        response = await storage.http.get(url, headers={"Range": ignored})
        assert (response.status_code, len(response.content)) == (200, SIZE), ignored


async def test_unknown_aip_is_a_404_problem(storage: Storage, tmp_path: Path) -> None:
    unknown = uuid.uuid4()
    assert_problem(await storage.http.get(f"/aips/{unknown}"), 404)
    assert_problem(await storage.http.get(f"/aips/{unknown}/download"), 404)
    with pytest.raises(ServiceError) as caught:
        await storage.client.get_aip(unknown)
    assert caught.value.status == 404
    with pytest.raises(ServiceError):
        await storage.client.download_aip(unknown, tmp_path / "never.7z")
    assert not (tmp_path / "never.7z").exists() and not (tmp_path / "never.7z.part").exists()


async def test_interrupted_upload_leaves_no_package_and_no_file(storage: Storage) -> None:
    body = b"x" * (3 * 1024 * 1024)
    sha256 = hashlib.sha256(body).hexdigest()

    async def breaks_midway() -> AsyncIterator[bytes]:
        yield body[: 1024 * 1024]
        yield body[1024 * 1024 : 2 * 1024 * 1024]
        raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError, match="connection lost"):
        await storage.http.put(
            f"/aips/{AIP_UUID}", params={"name": "cut", "sha256": sha256}, content=breaks_midway(),
            headers={"Content-Length": str(len(body))},
        )
    assert_problem(await storage.http.get(f"/aips/{AIP_UUID}"), 404)
    assert (await storage.client.list_aips()).total == 0
    assert_location_empty(storage)

    # The retry of the whole upload then succeeds.
    retried = await storage.http.put(f"/aips/{AIP_UUID}", params={"name": "cut", "sha256": sha256}, content=body)
    assert retried.status_code == 201, retried.text
    assert len(files_under(storage.aip_dir)) == 1


async def test_client_disconnect_mid_upload_leaves_no_package_and_no_file(storage: Storage) -> None:
    """What a server sees when the peer goes away: part of the body, then http.disconnect."""
    messages: list[Message] = [
        {"type": "http.request", "body": b"y" * 100_000, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT", "scheme": "http",
        "path": f"/aips/{AIP_UUID}", "raw_path": f"/aips/{AIP_UUID}".encode(), "root_path": "",
        "query_string": f"name=gone&sha256={'a' * 64}".encode(),
        "headers": [(b"authorization", f"Bearer {storage.settings.internal_token}".encode()),
                    (b"content-length", b"1000000"), (b"host", b"storage")],
        "client": ("127.0.0.1", 1), "server": ("storage", 80),
    }
    await storage.app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert_problem(await storage.http.get(f"/aips/{AIP_UUID}"), 404)
    assert_location_empty(storage)


async def test_invalid_store_requests(storage: Storage, db_engine: AsyncEngine) -> None:
    body = b"some package"
    sha256 = hashlib.sha256(body).hexdigest()
    url = f"/aips/{AIP_UUID}"
    assert_problem(await storage.http.put(url, params={"name": "a/b", "sha256": sha256}, content=body), 422)
    assert_problem(await storage.http.put(url, params={"name": "..", "sha256": sha256}, content=body), 422)
    assert_problem(await storage.http.put(url, params={"name": "ok", "sha256": "abc"}, content=body), 422)
    assert_problem(
        await storage.http.put(url, params={"name": "ok", "sha256": sha256, "extension": "../x"}, content=body), 422
    )
    empty = hashlib.sha256(b"").hexdigest()
    assert_problem(await storage.http.put(url, params={"name": "ok", "sha256": empty}, content=b""), 422)
    [source] = [loc for loc in await storage.client.list_locations(LocationPurpose.transfer_source) if loc.is_default]
    wrong_place = await storage.http.put(
        url, params={"name": "ok", "sha256": sha256, "location_uuid": str(source.uuid)}, content=body
    )
    assert_problem(wrong_place, 422)
    nowhere = await storage.http.put(
        url, params={"name": "ok", "sha256": sha256, "location_uuid": str(uuid.uuid4())}, content=body
    )
    assert_problem(nowhere, 404)

    [aip_location] = await storage.client.list_locations(LocationPurpose.aip_storage)
    async with db_engine.begin() as conn:
        await conn.execute(
            text("UPDATE storage_locations SET quota = 5 WHERE uuid = :uuid"),
            {"uuid": aip_location.uuid if db_engine.dialect.name == "postgresql" else aip_location.uuid.hex},
        )
    assert_problem(await storage.http.put(url, params={"name": "ok", "sha256": sha256}, content=body), 507)

    async def chunked() -> AsyncIterator[bytes]:
        yield body

    assert_problem(await storage.http.put(url, params={"name": "ok", "sha256": sha256}, content=chunked()), 507)
    assert_location_empty(storage)
    assert (await storage.client.list_aips()).total == 0


async def test_list_aips_pages(storage: Storage) -> None:
    stored = []
    for index in range(3):
        body = f"package {index}".encode()
        package_uuid = uuid.uuid4()
        response = await storage.http.put(
            f"/aips/{package_uuid}",
            params={"name": f"p{index}", "sha256": hashlib.sha256(body).hexdigest(), "extension": "tar.gz"},
            content=body,
        )
        assert response.status_code == 201, response.text
        assert response.json()["current_path"].endswith(f"/p{index}-{package_uuid}.tar.gz")
        stored.append(package_uuid)
    first = await storage.client.list_aips(limit=2)
    rest = await storage.client.list_aips(limit=2, offset=2)
    assert (first.total, len(first.items), len(rest.items)) == (3, 2, 1)
    assert {p.uuid for p in first.items + rest.items} == set(stored)
    by_status = await storage.http.get("/aips", params={"status": "pending"})
    assert by_status.json()["total"] == 0


async def test_a_pending_record_left_by_a_crash_is_completed_by_the_retry(storage: Storage) -> None:
    body = b"bytes of an upload whose server died before recording it" * 100
    sha256 = hashlib.sha256(body).hexdigest()
    [aip_location] = await storage.client.list_locations(LocationPurpose.aip_storage)
    async with unit_of_work(storage.app.state.sessions) as session:
        session.add(Package(
            uuid=AIP_UUID, name="crashed", package_type=PackageType.aip, status=PackageStatus.pending,
            location_uuid=aip_location.uuid, current_path=f"{QUAD_PATH}/crashed-{AIP_UUID}.7z", size=len(body),
            sha256=sha256,
        ))
    assert (await storage.client.get_aip(AIP_UUID)).status == PackageStatus.pending
    assert_problem(await storage.http.get(f"/aips/{AIP_UUID}/download"), 409)

    retried = await storage.http.put(f"/aips/{AIP_UUID}", params={"name": "crashed", "sha256": sha256}, content=body)
    assert retried.status_code == 201, retried.text
    assert retried.json()["status"] == "stored"
    assert files_under(storage.aip_dir) == [storage.aip_dir / QUAD_PATH / f"crashed-{AIP_UUID}.7z"]
    [aip_location] = await storage.client.list_locations(LocationPurpose.aip_storage)
    assert aip_location.used == len(body)


async def test_concurrent_identical_uploads_store_one_package(storage: Storage) -> None:
    body = os.urandom(2 * 1024 * 1024)
    sha256 = hashlib.sha256(body).hexdigest()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 256 * 1024):
            yield body[start : start + 256 * 1024]
            await asyncio.sleep(0)

    responses = await asyncio.gather(*(
        storage.http.put(f"/aips/{AIP_UUID}", params={"name": "twin", "sha256": sha256}, content=chunks())
        for _ in range(3)
    ))
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert len({r.json()["uuid"] for r in responses}) == 1
    assert (await storage.client.list_aips()).total == 1
    assert len(files_under(storage.aip_dir)) == 1
    assert list((storage.aip_dir / ".incoming").iterdir()) == []
    [aip_location] = await storage.client.list_locations(LocationPurpose.aip_storage)
    assert aip_location.used == len(body)
