"""`amber cancel`, `amber clean-up` and `amber retry` through the gateway, and the transfer following its ingest."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, make_tree

pytestmark = pytest.mark.e2e


def wait_for(http: httpx.Client, path: str, ready: Any, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = http.get(path).json()
        if ready(body):
            return body
        time.sleep(0.3)
    pytest.fail(f"{path} never got there: {body}")


def test_cancel_clean_up_and_retry_from_the_cli(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "lifecycle"
    make_tree(source, 5)
    with stack.client() as http:
        config = {"fields": {"create_sip": "ask"}}
        assert http.put("/api/v1/processing-configurations/ask-create-sip", json=config).status_code in (200, 201)
        started = json.loads(stack.amber("ingest", str(source), "--processing-config", "ask-create-sip",
                                         "--json").stdout)
        transfer_path = f"/api/v1/transfers/{started['transfer_id']}"
        ingest_id = wait_for(http, transfer_path, lambda t: t.get("ingest_uuid"))["ingest_uuid"]
        wait_for(http, f"/api/v1/ingests/{ingest_id}", lambda i: i["status"] == "awaiting_decision")

        assert "cancel" in stack.amber("cancel", ingest_id).stdout
        cancelled = wait_for(http, f"/api/v1/ingests/{ingest_id}", lambda i: i["status"] == "cancelled", 60)
        assert cancelled["cancelled_by"] == "admin"
        wait_for(http, transfer_path, lambda t: t["status"] == "cancelled", 60)
        refused = stack.amber("cancel", ingest_id, check=False)
        assert refused.returncode == 0  # cancelling a cancelled ingest answers it as it is

        cleaned = stack.amber("clean-up", ingest_id).stdout
        assert f"removed sips/{ingest_id}" in cleaned and "kept transfers/" in cleaned
        assert not (stack.data_dir / "processing" / "sips" / ingest_id).exists()

        retried = stack.amber("retry", ingest_id).stdout
        retry_id = retried.split(":")[0].strip()
        assert retry_id != ingest_id and f"retry of {ingest_id}" in retried
        wait_for(http, f"/api/v1/ingests/{retry_id}", lambda i: i["status"] == "awaiting_decision")
        stack.amber("decide", retry_id, "create_sip", "Create single SIP and continue processing")
        stored = wait_for(http, f"/api/v1/ingests/{retry_id}", lambda i: i["status"] in ("stored", "failed"), 180)
        assert stored["status"] == "stored", stored["error"]
        transfer = wait_for(http, transfer_path, lambda t: t["status"] == "stored", 60)
        assert transfer["ingest_uuid"] == retry_id
        # A stored ingest cannot be cancelled: the gateway passes the 409 on, the CLI says so.
        refused = stack.amber("cancel", retry_id, check=False)
        assert refused.returncode == 2 and "409" in refused.stderr
