"""Internal operations (servicekit.openapi) stay between services: not in the public document, refused as absent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message

from gateway.keys.admin import ensure_admin
from gateway.main import create_app
from gateway.proxy.registry import Operations
from servicekit.openapi import INTERNAL_EXTENSION, internal_operation
from tests.conftest import asgi_client, serve_http
from tests.gateway.harness import INTERNAL_TOKEN, gateway_settings, gateway_stack, upstream_app

SERVICE_AUTH = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}


def _absent(path: str) -> dict[str, Any]:
    """The service's own answer to a path it does not have."""
    return {"type": "about:blank", "title": "Not found", "status": 404, "detail": "Not Found", "instance": path}


def test_the_marker_keeps_the_operations_other_extras() -> None:
    extra = {"requestBody": {"required": True}}
    assert internal_operation(extra) == {"requestBody": {"required": True}, INTERNAL_EXTENSION: True}
    assert extra == {"requestBody": {"required": True}}
    assert internal_operation() == {INTERNAL_EXTENSION: True}


async def test_internal_operations_are_left_out_of_the_public_document(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:
        doc = (await stack.client.get("/openapi.json")).json()
        async with httpx.AsyncClient(base_url=stack.upstream_url) as direct:
            own = (await direct.get("/openapi.json")).json()
    # The service still declares them, marked, for the gateway to learn.
    assert own["paths"]["/widgets/{widget_id}"]["patch"][INTERNAL_EXTENSION] is True
    assert own["paths"]["/widgets/{widget_id}/stock"]["put"][INTERNAL_EXTENSION] is True
    assert "Restock" in own["components"]["schemas"]
    paths = doc["paths"]
    assert set(paths["/api/v1/widgets/{widget_id}"]) == {"get"}
    assert paths["/api/v1/widgets/{widget_id}"]["get"]["operationId"] == "get_widget"
    assert "/api/v1/widgets/{widget_id}/stock" not in paths
    operation_ids = {op["operationId"] for item in paths.values() for op in item.values()}
    assert {"list_widgets", "get_widget", "create_widget"} <= operation_ids
    assert not {"rename_widget", "restock_widget"} & operation_ids
    # Schemas only internal operations used go with them; shared ones stay.
    assert "Restock" not in doc["components"]["schemas"] and "Widget" in doc["components"]["schemas"]
    assert INTERNAL_EXTENSION not in str(doc)


async def test_internal_operations_are_refused_as_if_absent(tmp_path: Path, db_engine: AsyncEngine) -> None:
    async with gateway_stack(tmp_path, db_engine) as stack:
        async with httpx.AsyncClient(base_url=stack.upstream_url, headers=SERVICE_AUTH) as direct:
            # Peer services calling directly still reach them.
            assert (await direct.patch("/widgets/1", json={"id": 1, "name": "uno"})).json()["name"] == "uno"
            assert (await direct.put("/widgets/3/stock", json={"count": 5})).status_code == 200
            unknown = await direct.put("/widgets/1/nothing", json={})
        assert unknown.json() == _absent("/widgets/1/nothing")

        refused = {
            ("PATCH", "/api/v1/widgets/1"): "/widgets/1",
            ("PATCH", "/api/v1/widgets/1/"): "/widgets/1/",
            ("PATCH", "/api/v1/widgets//1"): "/widgets//1",
            ("PUT", "/api/v1/widgets/3/stock"): "/widgets/3/stock",
            ("PUT", "/api/v1/widgets/3%2Fstock"): "/widgets/3/stock",
            ("PUT", "/api/v1/widgets/3/stock/"): "/widgets/3/stock/",
        }
        for (method, path), instance in refused.items():
            response = await stack.client.request(method, path, json={"id": 1, "name": "uno"}, headers=stack.admin)
            assert response.status_code == 404, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json() == _absent(instance)

        # Public operations on the same paths are untouched.
        widget = await stack.client.get("/api/v1/widgets/1", headers=stack.admin)
        assert widget.status_code == 200 and widget.json() == {"id": 1, "name": "one"}
        assert (await stack.client.get("/api/v1/widgets", headers=stack.admin)).status_code == 200

        # The service's 405 would name the internal method (declared first on the path): the public ones instead.
        async with httpx.AsyncClient(base_url=stack.upstream_url, headers=SERVICE_AUTH) as direct:
            assert (await direct.delete("/widgets/1")).headers["allow"] == "PATCH"
        not_allowed = await stack.client.delete("/api/v1/widgets/1", headers=stack.admin)
        assert not_allowed.status_code == 405 and not_allowed.headers.get_list("allow") == ["GET"]
        # A path with internal operations only looks absent whatever the method.
        stock = await stack.client.get("/api/v1/widgets/3/stock", headers=stack.admin)
        assert stock.status_code == 404 and stock.json() == _absent("/widgets/3/stock")

        # Without a key, an internal operation answers like any other path.
        assert (await stack.client.patch("/api/v1/widgets/1", json={})).status_code == 401


async def _send_raw(app: ASGIApp, method: str, raw_path: bytes, key: str) -> tuple[int, int]:
    """Call `app` with a JSON body and the path exactly as given: its status, and whether it read the body."""
    received: list[Message] = []
    sent: list[Message] = []
    finished = asyncio.Event()

    async def receive() -> Message:
        if received:
            # The body went in one piece; later calls wait for the client to be gone.
            await finished.wait()
            return {"type": "http.disconnect"}
        message: Message = {"type": "http.request", "body": b'{"id":1,"name":"uno"}', "more_body": False}
        received.append(message)
        return message

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": raw_path.decode(), "raw_path": raw_path, "query_string": b"", "root_path": "",
        "client": ("127.0.0.1", 50000), "server": ("gateway", 80),
        "headers": [
            (b"host", b"gateway"), (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"), (b"content-length", b"21"),
        ],
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    return sent[0]["status"], len(received)


async def test_a_refusal_reads_no_body_and_sees_the_path_the_service_would(tmp_path: Path) -> None:
    async with serve_http(upstream_app(tmp_path / "up")) as upstream_url:
        settings = gateway_settings(tmp_path / "gw", upstream_url)
        created = await ensure_admin(settings)
        assert created is not None
        app = create_app(settings)
        async with asgi_client(app):
            # Dot segments would be resolved on the way to the service, so they cannot disguise the operation.
            for raw_path in (b"/api/v1/widgets/1", b"/api/v1/widgets/x/../1", b"/api/v1/widgets/./1"):
                assert await _send_raw(app, "PATCH", raw_path, created[1]) == (404, 0), raw_path
            # A public operation does read (and forward) the body.
            assert await _send_raw(app, "POST", b"/api/v1/widgets", created[1]) == (201, 1)


def test_matching_paths_against_internal_templates() -> None:
    docs = {
        "ingest": {"paths": {
            "/ingests": {"get": {}, "post": {INTERNAL_EXTENSION: True}},
            "/ingests/{ingest_uuid}": {"get": {}, "patch": {INTERNAL_EXTENSION: True}},
            "/ingests/{ingest_uuid}/jobs/{key}": {"put": {INTERNAL_EXTENSION: True}},
        }},
        "storage": {"paths": {"/aips/{aip_uuid}": {"put": {INTERNAL_EXTENSION: True}, "get": {}}}},
    }
    internal = Operations(docs)
    hidden = [
        ("POST", "/ingests"), ("post", "/ingests/"), ("PATCH", "/ingests/abc"), ("PUT", "/ingests/abc/jobs/k.1"),
        ("PUT", "/ingests/abc%2Fjobs%2Fk"), ("PUT", "//ingests/abc/jobs/k"), ("PUT", "/aips/abc"),
    ]
    shown = [
        ("GET", "/ingests"), ("GET", "/ingests/abc"), ("HEAD", "/ingests/abc"), ("PATCH", "/ingests"),
        ("PATCH", "/ingests/abc/jobs"), ("PUT", "/ingests/abc/jobs/k/more"), ("GET", "/aips/abc"),
        ("PUT", "/aips/abc/download"), ("PUT", "/aips"), ("PATCH", "/ingestsx/abc"), ("PUT", "/other/abc"),
    ]
    assert [pair for pair in hidden if not internal.hides(*pair)] == []
    assert [pair for pair in shown if internal.hides(*pair)] == []
    assert internal.allowed_methods("PUT", "/aips/abc") == "GET"
    assert internal.allowed_methods("GET, PATCH", "/ingests/abc") == "GET"
    assert internal.allowed_methods("PUT", "/ingests/abc/jobs/k") is None
    assert internal.allowed_methods("GET", "/locations") == "GET"
