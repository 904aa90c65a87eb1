"""Bulk bodies between services (servicekit.bulk) over the real metadata app: gzip-compressed batches are recorded
as plain ones are, a body that inflates past the bound or is corrupt is refused, and an invalid body is reported
field by field as on any route."""

from __future__ import annotations

import gzip
import json
import uuid

import pydantic_core
from fastapi import FastAPI

from clients.metadata import EventRead, EventRecord, MetadataClient
from servicekit.bulk import GZIP_ABOVE, inflate, json_content
from servicekit.problems import Problem
from tests.conftest import asgi_client
from tests.metadata.conftest import TOKEN
from tests.metadata.factories import AGENTS, ORGANIZATION_AGENT, SYSTEM_AGENT, file_records
from tests.metadata.test_premis_api import new_package

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_a_large_batch_goes_gzip_compressed_and_is_recorded_whole(metadata: MetadataClient) -> None:
    package_uuid = await new_package(metadata)
    records = file_records(package_uuid, 300)
    content, headers = json_content({"files": records})
    assert headers["Content-Encoding"] == "gzip" and len(content) < len(pydantic_core.to_json({"files": records}))
    assert json.loads(gzip.decompress(content)) == json.loads(json.dumps(
        {"files": [record.model_dump(mode="json") for record in records]}))
    result = await metadata.add_files(package_uuid, records)
    assert (result.created, result.unchanged) == (300, 0)
    listed = await metadata.list_files(package_uuid, limit=500)
    assert sorted(f.path for f in listed.items) == sorted(r.path for r in records)
    assert {e.uuid for f in listed.items for e in await _events(metadata, package_uuid, f.uuid)} == {
        e.uuid for r in records for e in r.events}
    assert (await metadata.add_files(package_uuid, records)).unchanged == 300


async def _events(metadata: MetadataClient, package_uuid: uuid.UUID, file_uuid: uuid.UUID) -> list[EventRead]:
    return list((await metadata.list_events(package_uuid, object_uuid=file_uuid, limit=100)).items)


async def test_a_small_body_goes_as_it_is() -> None:
    content, headers = json_content({"paths": ["objects/a"]})
    assert "Content-Encoding" not in headers and len(content) < GZIP_ABOVE
    assert json.loads(content) == {"paths": ["objects/a"]}


async def test_bodies_that_are_corrupt_too_large_once_inflated_or_otherwise_encoded_are_refused(
    metadata_app: FastAPI,
) -> None:
    async with asgi_client(metadata_app) as http:
        package_uuid = uuid.uuid4()
        made = await http.put(f"/premis/packages/{package_uuid}", json={"name": "bodies"}, headers=AUTH)
        assert made.status_code == 200, made.text
        url = f"/premis/packages/{package_uuid}/files"
        gzip_headers = {**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"}
        corrupt = await http.post(url, content=b"\x1f\x8bnot gzip at all", headers=gzip_headers)
        assert corrupt.status_code == 400 and "corrupt" in corrupt.json()["detail"]
        truncated = await http.post(url, content=gzip.compress(b'{"files": []}')[:-6], headers=gzip_headers)
        assert truncated.status_code == 400 and "truncated" in truncated.json()["detail"]
        brotli = await http.post(url, content=b"{}", headers={**gzip_headers, "Content-Encoding": "br"})
        assert brotli.status_code == 415
        empty = await http.post(url, content=gzip.compress(b'{"files": []}'), headers=gzip_headers)
        assert empty.status_code == 200 and empty.json() == {"created": 0, "unchanged": 0}
    bomb = gzip.compress(b" " * (2 * 1024 * 1024))
    try:
        inflate(bomb, limit=1024 * 1024)
    except Problem as refused:
        assert refused.status == 413
    else:
        raise AssertionError("a body inflating past the bound was accepted")


async def test_an_invalid_bulk_body_is_reported_field_by_field(metadata_app: FastAPI) -> None:
    async with asgi_client(metadata_app) as http:
        package_uuid = uuid.uuid4()
        await http.put(f"/premis/packages/{package_uuid}", json={"name": "invalid"}, headers=AUTH)
        content, headers = json_content({"files": [{"uuid": "not-a-uuid", "path": "../up", "size": -1}]})
        answer = await http.post(f"/premis/packages/{package_uuid}/files", content=content,
                                 headers={**AUTH, **headers})
        assert answer.status_code == 422
        assert answer.headers["content-type"].startswith("application/problem+json")
        located = {tuple(error["loc"]) for error in answer.json()["errors"]}
        assert {("body", "files", 0, "uuid"), ("body", "files", 0, "path"), ("body", "files", 0, "size"),
                ("body", "files", 0, "checksum")} <= located
        garbled = await http.post(f"/premis/packages/{package_uuid}/files", content=b'{"files": [',
                                  headers={**AUTH, "Content-Type": "application/json"})
        assert garbled.status_code == 422 and garbled.json()["errors"][0]["type"] == "json_invalid"


async def test_events_sent_without_agents_get_the_requests_and_the_others_keep_their_own(
    metadata: MetadataClient,
) -> None:
    package_uuid = await new_package(metadata)
    records = file_records(package_uuid, 40)
    shared = [SYSTEM_AGENT, ORGANIZATION_AGENT]
    own_agents, no_agents = records[1].events[0], records[2].events[0]
    for record in records:
        record.events = [
            event if event is own_agents else event.model_copy(update={"agents": []}) if event is no_agents
            else EventRecord(**event.model_dump(exclude={"agents"}))
            for event in record.events
        ]
    assert "agents" not in records[0].events[0].model_fields_set
    result = await metadata.add_files(package_uuid, records, agents=shared)
    assert (result.created, result.unchanged) == (40, 0)
    expected = {(a.identifier_type, a.identifier_value) for a in shared}
    for record in records:
        for event in await _events(metadata, package_uuid, record.uuid):
            agents = {(a.identifier_type, a.identifier_value) for a in event.agents}
            if event.uuid == own_agents.uuid:
                assert agents == {(a.identifier_type, a.identifier_value) for a in AGENTS}
            elif event.uuid == no_agents.uuid:
                assert agents == set()
            else:
                assert agents == expected, (record.path, event.type)
    # Fields left unset are not sent and come back as their defaults.
    listed = await metadata.list_files(package_uuid, limit=100)
    assert {(f.checksum_type, tuple(f.relationships)) for f in listed.items} == {("sha256", ())}
    assert (await metadata.add_files(package_uuid, records, agents=shared)).unchanged == 40
