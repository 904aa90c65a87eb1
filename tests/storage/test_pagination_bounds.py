"""Huge offsets and sizes are refused as invalid requests, never a 500 (found by fuzzing)."""

from __future__ import annotations

import pytest

from tests.storage.harness import Storage

HUGE = str(2**70)


@pytest.mark.parametrize("params", [{"offset": HUGE}, {"offset": str(2**63)}, {"limit": HUGE}])
async def test_a_huge_offset_or_limit_is_a_422(storage: Storage, params: dict[str, str]) -> None:
    response = await storage.http.get("/packages", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_largest_offset_allowed_answers_an_empty_page(storage: Storage) -> None:
    response = await storage.http.get("/packages", params={"offset": str(2**63 - 1)})
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


async def test_a_huge_quota_is_a_422(storage: Storage) -> None:
    folder = storage.settings.data_dir / "quota"
    response = await storage.http.post(
        "/locations", json={"purpose": "aip_storage", "path": str(folder), "quota": 2**70}
    )
    assert response.status_code == 422, response.text
