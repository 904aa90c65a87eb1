"""The compatibility routes at the gateway edge, without a full stack: auth shapes on both databases, a dead
service answered in Archivematica's shape (never a 500), and the /api/v1 proxy and /openapi.json undisturbed."""

from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.gateway.harness import gateway_stack

INVALID = {"message": "API key not valid.", "error": True}


async def test_credentials_in_every_style_on_amber_keys(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with gateway_stack(tmp_path, db_engine) as stack:
        http, key = stack.client, stack.admin_key
        basic = base64.b64encode(f"admin:{key}".encode()).decode()
        assert (await http.get("/api/v2/pipeline/", headers={"Authorization": f"Basic {basic}"})).status_code == 200
        assert (await http.get("/api/v2/pipeline", params={"username": "admin", "api_key": key})).status_code == 200
        assert (await http.get("/api/v2/pipeline", headers={"Authorization": f"apikey admin:{key}"})).status_code \
            == 200
        for response in (
            await http.get("/api/v2beta/package", headers={"Authorization": f"ApiKey other:{key}"}),
            await http.get("/api/v2beta/package", params={"username": "admin", "api_key": key + "x"}),
            await http.post("/api/transfer/approve", data={"username": "admin", "api_key": "x"}),
            await http.get("/api/v2beta/package", headers={"Authorization": f"Basic {basic}"}),  # not the dashboard's
        ):
            assert response.status_code == 403 and response.json() == INVALID, response.text
            assert response.headers["x-archivematica-version"] == "1.19.0"
        bad_basic = base64.b64encode(b"admin:nope").decode()
        for response in (
            await http.get("/api/v2/file/", headers={"Authorization": f"Basic {bad_basic}"}),
            await http.get("/api/v2/file/", headers={"Authorization": "Basic %%%"}),
            await http.get("/api/v2/space"),
        ):
            assert response.status_code == 401 and response.content == b""
            assert "x-archivematica-version" not in response.headers
        # A revoked key stops working here as on /api/v1.
        created = (await http.post("/api/v1/keys", json={"name": "k"}, headers=stack.admin)).json()
        assert (await http.delete(f"/api/v1/keys/{created['id']}", headers=stack.admin)).status_code == 204
        refused = await http.get("/api/v2/pipeline/", params={"username": "admin", "api_key": created["key"]})
        assert refused.status_code == 401


async def test_a_dead_service_is_a_502_in_archivematicas_shape(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:  # ingest, metadata and storage are down
        completed = await stack.client.get("/api/ingest/completed", headers=stack.admin)
        assert completed.status_code == 502 and completed.json()["error"] is True, completed.text
        assert "ingest" in completed.json()["message"]
        files = await stack.client.get("/api/v2/file/", headers=stack.admin)
        assert files.status_code == 502 and files.json()["error"] is True


async def test_the_proxy_and_the_public_document_are_undisturbed(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:
        assert (await stack.client.get("/api/v1/widgets", headers=stack.admin)).status_code == 200
        document = (await stack.client.get("/openapi.json")).json()
        assert not [path for path in document["paths"] if not path.startswith("/api/v1/")]
        unknown = await stack.client.get("/api/transfer/nothing-here", headers=stack.admin)
        assert unknown.status_code == 404

