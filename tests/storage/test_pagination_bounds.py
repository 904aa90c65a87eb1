"""Huge offsets and sizes, and hostile names, are refused as invalid requests, never a 500 (found by fuzzing)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from tests.storage.harness import Storage
from tests.storage.test_lifecycle import store

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


async def test_huge_numbers_in_a_range_never_answer_5xx(storage: Storage, tmp_path: Path) -> None:
    archive = tmp_path / "aip.7z"
    archive.write_bytes(b"0123456789")
    aip_uuid = uuid.uuid4()
    await storage.register(aip_uuid, "Ranged")
    await storage.client.store_aip(aip_uuid, "Ranged", hashlib.sha256(b"0123456789").hexdigest(), archive)
    huge = "9" * 40
    for header in (f"bytes={huge}-", f"bytes=0-{huge}", f"bytes=-{huge}", f"bytes={huge}-{huge}"):
        response = await storage.http.get(f"/aips/{aip_uuid}/download", headers={"Range": header})
        assert response.status_code < 500, (header, response.text)


@pytest.mark.parametrize("kind", ["7z", "folder", "tar.gz"])
async def test_extracting_a_file_with_a_hostile_name_is_a_4xx(storage: Storage, tmp_path: Path, kind: str) -> None:
    aip_uuid, _bag, _archive = await store(storage, tmp_path, kind)
    for path in ("x" * 300, "data/" + "y" * 5000, "a%00b", "..%2F..%2Fetc%2Fpasswd", "%FF",
                 "data/objects/../../../../etc/passwd", "bagit.txt/below", "data/" + "d/" * 3000 + "z"):
        response = await storage.http.get(f"/aips/{aip_uuid}/files/{path}")
        assert 400 <= response.status_code < 500, (path[:30], response.text[:300])
