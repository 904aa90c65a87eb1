"""A huge offset on the gateway's own list of keys is a 422 problem, not an OverflowError 500 (found by fuzzing)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.gateway.harness import gateway_stack


async def test_a_huge_offset_on_keys_is_a_422(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with gateway_stack(tmp_path, db_engine) as stack:
        for offset in (str(2**63), str(2**70), "9" * 40):
            response = await stack.client.get("/api/v1/keys", params={"offset": offset}, headers=stack.admin)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
        largest = await stack.client.get("/api/v1/keys", params={"offset": str(2**63 - 1)}, headers=stack.admin)
        assert largest.status_code == 200, largest.text
        assert largest.json()["items"] == []
