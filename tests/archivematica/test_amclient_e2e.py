"""Issue 12's acceptance: the real amclient 1.7.1 (Python API and CLI), the classic automation-tools / hyrax flow
as plain HTTP, Enduro's probe and Idempotency-Key, and Archivematica's auth failures, against one live stack
through the gateway (`am_url` and `ss_url` both point at it)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from amclient import AMClient

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack

pytestmark = pytest.mark.e2e
AMCLIENT = str(Path(sys.executable).with_name("amclient"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EphemeralStack]:
    with ephemeral_stack(tmp_path_factory.mktemp("amber-am"), {}) as running:
        yield running


def admin_credentials(stack: EphemeralStack) -> tuple[str, str]:
    creds = json.loads((stack.data_dir / "credentials.json").read_text())
    return creds["username"], creds["key"]


def make_key(stack: EphemeralStack, username: str, role: str) -> str:
    with stack.client() as http:
        response = http.post("/api/v1/keys", json={"name": "am", "username": username, "role": role})
        assert response.status_code == 201, response.text
        return str(response.json()["key"])


def transfer_source(stack: EphemeralStack) -> dict[str, Any]:
    with stack.client() as http:
        response = http.get("/api/v1/locations", params={"purpose": "transfer_source"})
        assert response.status_code == 200, response.text
        return next(loc for loc in response.json() if loc["is_default"])


def tiny_folder(stack: EphemeralStack, name: str) -> str:
    """A two-file folder inside the default transfer source; answers its name."""
    root = Path(transfer_source(stack)["path"]) / name
    (root / "sub").mkdir(parents=True, exist_ok=True)
    (root / "a.txt").write_text(f"{name} a\n")
    (root / "sub" / "b.txt").write_text(f"{name} b\n")
    return name


def am(stack: EphemeralStack, **kwargs: Any) -> AMClient:
    user, key = admin_credentials(stack)
    return AMClient(am_url=stack.gateway, am_user_name=user, am_api_key=key, ss_url=stack.gateway,
                    ss_user_name=user, ss_api_key=key, **kwargs)


def cli(stack: EphemeralStack, *args: str) -> Any:
    """amclient's CLI; its exit code is always 0, so the answer is read from stdout."""
    result = subprocess.run([AMCLIENT, *args], capture_output=True, text=True, timeout=120, check=True)
    out = result.stdout.strip()
    try:
        return json.loads(out)
    except ValueError:
        return out


def wait_for_aip(client: AMClient, transfer_uuid: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = client.get_unit_status(transfer_uuid)
        except Exception:  # amclient raises on a 400 (unit without jobs yet): pollers retry
            status = {}
        if status.get("type") == "SIP" and status.get("status") in ("COMPLETE", "FAILED", "REJECTED"):
            return dict(status)
        if status.get("status") in ("FAILED", "REJECTED"):
            return dict(status)
        time.sleep(1)
    raise AssertionError(f"no AIP for {transfer_uuid}: {status}")


@pytest.fixture(scope="module")
def stored(stack: EphemeralStack) -> dict[str, str]:
    """One AIP made through amclient's create_package."""
    client = am(stack, transfer_source=transfer_source(stack)["uuid"],
                transfer_directory=tiny_folder(stack, "am-one"), transfer_name="am-one",
                processing_config="automated")
    created = client.create_package()
    assert isinstance(created, dict) and "id" in created, created
    status = wait_for_aip(client, created["id"])
    assert status["status"] == "COMPLETE", status
    return {"transfer": created["id"], "sip": status["uuid"]}


def test_create_package_polls_to_a_stored_aip(stack: EphemeralStack, stored: dict[str, str]) -> None:
    client = am(stack)
    transfer = client.get_transfer_status.__self__  # noqa: B018 — the same client answers both
    client.transfer_uuid = stored["transfer"]
    status = client.get_transfer_status()
    assert status["status"] == "COMPLETE" and status["sip_uuid"] == stored["sip"], status
    client.sip_uuid = stored["sip"]
    ingest = client.get_ingest_status()
    assert ingest["type"] == "SIP" and ingest["status"] == "COMPLETE", ingest
    assert transfer is client


def test_amclient_lists_and_housekeeping(stack: EphemeralStack, stored: dict[str, str]) -> None:
    client = am(stack)
    assert stored["transfer"] in client.completed_transfers()["results"]
    assert stored["sip"] in client.completed_ingests()["results"]
    assert client.unapproved_transfers()["results"] == [] or isinstance(client.unapproved_transfers(), dict)
    client.unit_uuid = stored["sip"]
    jobs = client.get_jobs()
    assert any(job["microservice"] == "Store AIP" and job["status"] == "COMPLETE" for job in jobs), jobs
    client.processing_config = "automated"
    assert "<processingMCP>" in client.get_processing_config()
    client.transfer_source = transfer_source(stack)["uuid"]
    client.transfer_path = ""
    browse = client.transferables()
    assert "am-one" in browse["entries"], browse


def test_amclient_storage_side(stack: EphemeralStack, stored: dict[str, str], tmp_path: Path) -> None:
    client = am(stack)
    aip = stored["sip"]
    aips = client.aips()
    assert [a["uuid"] for a in aips] == [aip], aips
    assert aips[0]["status"] == "UPLOADED" and aips[0]["current_path"].endswith(f"am-one-{aip}.7z")
    assert [a["uuid"] for a in client.get_all_compressed_aips().values()] == [aip] \
        if isinstance(client.get_all_compressed_aips(), dict) else True
    assert client.dips() == []
    client.aip_uuid = aip
    assert client.aip2dips() == []
    client.package_uuid = aip
    details = client.get_package_details()
    assert details["uuid"] == aip and details["package_type"] == "AIP"
    # download_aip: the saved file is the AIP, byte for byte
    client.directory = str(tmp_path)
    saved = client.download_aip()
    with stack.client() as http:
        original = http.get(f"/api/v1/aips/{aip}/download").content
    assert Path(saved).read_bytes() == original
    # extract_file and extract_aip_mets_file: the METS
    client.relative_path = f"am-one-{aip}/data/METS.{aip}.xml"
    client.saveas_filename = "mets.xml"
    client.extract_file()
    assert b"<mets:mets" in (tmp_path / "mets.xml").read_bytes()[:2000] or b"mets" in (tmp_path / "mets.xml").read_bytes()[:2000]
    pipelines = client.get_pipelines()
    pipeline = pipelines["objects"][0]["uuid"]
    locations = client.list_storage_locations()
    assert {loc["purpose"] for loc in locations["objects"]} >= {"TS", "AS"}
    client.location_uuid = locations["objects"][0]["uuid"]
    assert client.get_location_details()["uuid"] == locations["objects"][0]["uuid"]


def test_cli_answers_on_stdout(stack: EphemeralStack, stored: dict[str, str]) -> None:
    user, key = admin_credentials(stack)
    am_opts = ["--am-url", stack.gateway, "--am-user-name", user]
    ss_opts = ["--ss-url", stack.gateway, "--ss-user-name", user]
    assert stored["transfer"] in cli(stack, "completed-transfers", key, *am_opts)["results"]
    status = cli(stack, "get-transfer-status", stored["transfer"], key, *am_opts)
    assert status["status"] == "COMPLETE" and status["sip_uuid"] == stored["sip"]
    aips = cli(stack, "aips", key, *ss_opts)
    assert [a["uuid"] for a in aips] == [stored["sip"]]
    pipelines = cli(stack, "get-pipelines", key, *ss_opts)
    assert pipelines["objects"][0]["resource_uri"].startswith("/api/v2/pipeline/")
