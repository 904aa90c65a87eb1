"""API keys over the gateway's real app, on SQLite and PostgreSQL: who gets in, and how keys are kept."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.gateway.harness import gateway_stack

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["status"] == status


async def test_requests_without_a_valid_key_are_refused(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with gateway_stack(tmp_path, db_engine) as stack:
        client = stack.client
        for headers in (
            {},
            {"Authorization": "Bearer not-a-key"},
            {"Authorization": f"ApiKey someone-else:{stack.admin_key}"},
            {"Authorization": f"ApiKey admin {stack.admin_key}"},
            {"Authorization": f"Basic {stack.admin_key}"},
            {"Authorization": "Bearer"},
        ):
            for path in ("/api/v1/me", "/api/v1/widgets", "/api/v1/nowhere", "/api/v1/keys"):
                response = await client.get(path, headers=headers)
                assert_problem(response, 401)
                assert "www-authenticate" in response.headers
        # The public document, the docs page and the liveness probe need no key.
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200


async def test_apikey_and_bearer_schemes_identify_the_user(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with gateway_stack(tmp_path, db_engine) as stack:
        me = await stack.client.get("/api/v1/me", headers=stack.admin)
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "admin" and me.json()["role"] == "admin"
        bearer = await stack.client.get("/api/v1/me", headers={"Authorization": f"Bearer {stack.admin_key}"})
        assert bearer.json() == me.json()
        lower = await stack.client.get("/api/v1/me", headers={"Authorization": f"apikey admin:{stack.admin_key}"})
        assert lower.status_code == 200


async def test_key_lifecycle_over_http(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with gateway_stack(tmp_path, db_engine) as stack:
        client = stack.client
        created = await client.post("/api/v1/keys", json={"name": "alice's laptop", "username": "alice"},
                                    headers=stack.admin)
        assert created.status_code == 201, created.text
        alice_key = created.json()["key"]
        assert created.json()["prefix"] == alice_key[:8]
        assert created.json()["username"] == "alice"
        alice = {"Authorization": f"ApiKey alice:{alice_key}"}

        me = await client.get("/api/v1/me", headers=alice)
        assert me.json()["username"] == "alice" and me.json()["role"] == "reader"
        # Key management is for administrators.
        assert_problem(await client.get("/api/v1/keys", headers=alice), 403)
        assert_problem(await client.post("/api/v1/keys", json={"name": "x"}, headers=alice), 403)

        listing = await client.get("/api/v1/keys", headers=stack.admin)
        assert listing.status_code == 200
        page = listing.json()
        assert page["total"] == 2
        assert [item["username"] for item in page["items"]] == ["admin", "alice"]
        assert all("key" not in item and "key_hash" not in item for item in page["items"])
        # Both keys were used, so their last use is recorded; to the minute, so a second use writes nothing.
        assert all(item["last_used_at"] is not None for item in page["items"])
        await client.get("/api/v1/me", headers=alice)
        relisted = (await client.get("/api/v1/keys", headers=stack.admin)).json()
        assert [item["last_used_at"] for item in relisted["items"]] == [item["last_used_at"] for item in page["items"]]

        revoked = await client.delete(f"/api/v1/keys/{created.json()['id']}", headers=stack.admin)
        assert revoked.status_code == 204
        assert_problem(await client.get("/api/v1/me", headers=alice), 401)
        assert_problem(await client.get("/api/v1/widgets", headers=alice), 401)
        again = await client.delete(f"/api/v1/keys/{created.json()['id']}", headers=stack.admin)
        assert again.status_code == 204
        missing = await client.delete("/api/v1/keys/00000000-0000-0000-0000-000000000000", headers=stack.admin)
        assert_problem(missing, 404)
        listing = (await client.get("/api/v1/keys", headers=stack.admin)).json()
        assert [item["revoked_at"] is not None for item in listing["items"]] == [False, True]

        # A key for oneself when no username is given.
        mine = await client.post("/api/v1/keys", json={"name": "second"}, headers=stack.admin)
        assert mine.json()["username"] == "admin"
        invalid = await client.post("/api/v1/keys", json={"name": "", "username": "has space"}, headers=stack.admin)
        assert_problem(invalid, 422)


async def test_keys_are_stored_hashed_only(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with gateway_stack(tmp_path, db_engine) as stack:
        created = await stack.client.post("/api/v1/keys", json={"name": "ci"}, headers=stack.admin)
        clear_keys = [stack.admin_key, created.json()["key"]]
        async with db_engine.connect() as conn:
            rows = (await conn.execute(text("SELECT * FROM api_keys"))).all()
        dump = repr(rows)
        assert len(rows) == 2
        for key in clear_keys:
            assert key not in dump
            assert key[:8] in dump
