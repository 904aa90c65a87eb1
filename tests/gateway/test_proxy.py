"""Forwarding through the gateway to a real upstream service over HTTP: headers, ids, errors, streamed bodies."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from gateway.keys.admin import ensure_admin
from gateway.main import create_app
from tests.conftest import asgi_client, bound_socket, serve_http
from tests.gateway.harness import (
    INTERNAL_TOKEN,
    gateway_settings,
    gateway_stack,
    pattern_chunks,
    upstream_app,
)

BIG = 50 * 1024 * 1024


def header_values(echo: dict, name: str) -> list[str]:
    return [value for key, value in echo["headers"] if key.lower() == name]


async def test_forwarding_rewrites_identity_and_keeps_the_rest(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:
        response = await stack.client.get(
            "/api/v1/echo/a%2Fb/c%20d?x=1&x=2&y=%C3%A9",
            headers={**stack.admin, "X-Amber-User": "mallory", "X-Custom": "kept", "Connection": "x-drop",
                     "X-Drop": "dropped", "Accept-Encoding": "identity", "User-Agent": "amber-test"},
        )
        assert response.status_code == 200, response.text
        echo = response.json()
        assert echo["method"] == "GET"
        assert echo["raw_path"] == "/echo/a%2Fb/c%20d"
        assert echo["query"] == "x=1&x=2&y=%C3%A9"
        # The caller's key stays at the gateway; the service sees the internal token and the real user.
        assert header_values(echo, "authorization") == [f"Bearer {INTERNAL_TOKEN}"]
        assert header_values(echo, "x-amber-user") == ["admin"]
        assert echo["caller"] == "admin"
        assert header_values(echo, "x-custom") == ["kept"]
        assert header_values(echo, "x-drop") == []
        # Exactly what the caller sent: the gateway's HTTP client adds no defaults of its own.
        assert header_values(echo, "accept-encoding") == ["identity"]
        assert header_values(echo, "user-agent") == ["amber-test"]

        patched = await stack.client.patch("/api/v1/echo/z", content=b"hello", headers=stack.admin)
        assert patched.json()["method"] == "PATCH" and patched.json()["body"] == "hello"


async def test_request_id_travels_to_the_service_and_back(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:
        given = await stack.client.get("/api/v1/echo/x", headers={**stack.admin, "X-Request-ID": "req-42"})
        assert header_values(given.json(), "x-request-id") == ["req-42"]
        assert given.headers.get_list("x-request-id") == ["req-42"]
        made = await stack.client.get("/api/v1/echo/x", headers=stack.admin)
        request_id = made.headers["x-request-id"]
        assert request_id and header_values(made.json(), "x-request-id") == [request_id]


async def test_service_answers_and_problems_pass_through(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:
        widgets = await stack.client.get("/api/v1/widgets", headers=stack.admin)
        assert widgets.json() == [{"id": 1, "name": "one"}]
        missing = await stack.client.get("/api/v1/widgets/7", headers=stack.admin)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        async with httpx.AsyncClient(base_url=stack.upstream_url) as direct:
            expected = await direct.get("/widgets/7", headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"})
        # Byte for byte what the service said (its instance is its own path).
        assert missing.content == expected.content
        created = await stack.client.post("/api/v1/widgets", json={"id": 2, "name": "two"}, headers=stack.admin)
        assert created.status_code == 201
        assert created.headers["location"] == "/api/v1/widgets/2"
        invalid = await stack.client.post("/api/v1/widgets", json={"id": "x"}, headers=stack.admin)
        assert invalid.status_code == 422 and invalid.json()["title"] == "Invalid request"


async def test_unknown_paths_and_unreachable_services(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:
        unknown = await stack.client.get("/api/v1/nothing-here", headers=stack.admin)
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        wrong_method = await stack.client.put("/api/v1/me", headers=stack.admin)
        assert wrong_method.status_code == 405
        health = await stack.client.get("/api/v1/health", headers=stack.admin)
        assert health.json()["status"] == "degraded"
        assert health.json()["services"]["transfer"] == {"status": "ok", "detail": None}
        assert health.json()["services"]["storage"]["status"] == "unreachable"


async def test_a_service_started_after_the_gateway_is_found_on_first_use(tmp_path: Path) -> None:
    sock = bound_socket()  # its port is known, but nothing listens yet
    port = sock.getsockname()[1]
    settings = gateway_settings(tmp_path / "gw", f"http://127.0.0.1:{port}")
    created = await ensure_admin(settings)
    assert created is not None
    headers = {"Authorization": f"Bearer {created[1]}"}
    async with asgi_client(create_app(settings)) as client:
        assert (await client.get("/api/v1/widgets", headers=headers)).status_code == 404
        assert "/api/v1/widgets" not in (await client.get("/openapi.json")).json()["paths"]
        async with serve_http(upstream_app(tmp_path / "up"), sock):
            assert (await client.get("/api/v1/widgets", headers=headers)).status_code == 200
            assert "/api/v1/widgets" in (await client.get("/openapi.json")).json()["paths"]
        gone = await client.get("/api/v1/widgets", headers=headers)
        assert gone.status_code == 502
        assert gone.headers["content-type"] == "application/problem+json"
        assert "transfer" in gone.json()["detail"]


async def test_large_upload_and_download_stream_through(tmp_path: Path) -> None:
    expected_digest = hashlib.sha256()
    for chunk in pattern_chunks(BIG):
        expected_digest.update(chunk)
    expected = expected_digest.hexdigest()

    async def body() -> AsyncIterator[bytes]:
        for chunk in pattern_chunks(BIG):
            yield chunk

    async with gateway_stack(tmp_path, real_http=True) as stack:
        sized = await stack.client.post(
            "/api/v1/uploads", content=body(), headers={**stack.admin, "Content-Length": str(BIG)}
        )
        assert sized.status_code == 200, sized.text
        assert sized.json() == {"sha256": expected, "size": BIG, "content_length": str(BIG),
                                "transfer_encoding": None}
        chunked = await stack.client.post("/api/v1/uploads", content=body(), headers=stack.admin)
        assert chunked.json()["sha256"] == expected
        assert chunked.json()["transfer_encoding"] == "chunked"

        digest, size = hashlib.sha256(), 0
        async with stack.client.stream("GET", f"/api/v1/downloads/{BIG}", headers=stack.admin) as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(BIG)
            async for chunk in response.aiter_raw():
                digest.update(chunk)
                size += len(chunk)
        assert size == BIG and digest.hexdigest() == expected

        # A client that stops reading early must not wedge the gateway.
        async with stack.client.stream("GET", f"/api/v1/downloads/{BIG}", headers=stack.admin) as response:
            async for _chunk in response.aiter_raw():
                break
        assert (await stack.client.get("/api/v1/widgets", headers=stack.admin)).status_code == 200
