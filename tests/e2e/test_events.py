"""Domain events end to end: an ingest to a stored AIP and a failing fixity check, followed on the live stream
(cut mid-ingest, resumed with Last-Event-ID) and delivered to a webhook receiver that was down meanwhile, every
delivery's signature verified with the `standardwebhooks` library."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks import Webhook

from amber_cli.ephemeral import free_port
from tests.e2e.conftest import Stack, make_tree
from tests.e2e.webhook_receiver import Receiver, wait_until

pytestmark = pytest.mark.e2e


class StreamReader(threading.Thread):
    """Reads the SSE stream, hangs up after the first `cut_after` event and resumes with Last-Event-ID, until an
    event of type `until` arrives."""

    def __init__(self, stack: Stack, cut_after: str, until: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.cut_after, self.until = stack, cut_after, until
        self.start_id: int | None = None
        self.started = threading.Event()
        self.events: list[dict[str, Any]] = []
        self.connections = 0
        self.error: BaseException | None = None

    def read(self, http: httpx.Client, last_id: int | None) -> str:
        """One connection; returns why it ended (`cut` or `done`)."""
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        self.connections += 1
        with http.stream("GET", "/api/v1/events", headers=headers) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            message: dict[str, str] = {}
            for line in response.iter_lines():
                if line:
                    field, _, value = line.partition(":")
                    message[field] = value.strip()
                    continue
                if "data" not in message:
                    if self.start_id is None and "id" in message:
                        self.start_id = int(message["id"])
                        self.started.set()
                    message = {}
                    continue
                event = json.loads(message["data"])
                assert int(message["id"]) == event["id"] and message["event"] == event["type"]
                self.events.append(event)
                message = {}
                if event["type"] == self.until:
                    return "done"
                if self.connections == 1 and event["type"] == self.cut_after:
                    return "cut"
        return "closed"

    def run(self) -> None:
        try:
            with self.stack.client() as http:
                while self.read(http, self.events[-1]["id"] if self.events else self.start_id) != "done":
                    pass
        except BaseException as exc:  # handed to the test
            self.error = exc
            self.started.set()


def test_events_reach_the_stream_and_signed_webhooks_once_each(stack: Stack, tmp_path: Path) -> None:
    receiver = Receiver(free_port())
    with stack.client() as http:
        created = http.post("/api/v1/webhooks", json={"url": f"http://127.0.0.1:{receiver.port}/hook",
                                                      "description": "test receiver"})
        assert created.status_code == 201, created.text
        endpoint = created.json()
        first_secret = endpoint["secret"]
        assert first_secret.startswith("whsec_") and endpoint["event_types"] == []

        reader = StreamReader(stack, cut_after="ingest.progress.v1", until="fixity.failed.v1")
        reader.start()
        assert reader.started.wait(30) and reader.error is None, reader.error

        # `amber ingest --wait` follows the stream and ends with a summary for a person.
        source = tmp_path / "Events papers"
        make_tree(source, 30)
        result = stack.amber("ingest", str(source), "--wait")
        assert "Stored" in result.stdout, (result.stdout, result.stderr)
        assert "✓" in result.stderr and "files)" in result.stderr, result.stderr
        aip_id = re.search(r"AIP\s+([0-9a-f-]{36})", result.stdout).group(1)  # type: ignore[union-attr]
        aip_file = Path(re.search(r"stored at\s+(\S.*\.7z)", result.stdout).group(1))  # type: ignore[union-attr]

        # Damage the stored AIP: its fixity check fails, and says so as an event.
        with aip_file.open("r+b") as package:
            package.seek(aip_file.stat().st_size // 2)
            byte = package.read(1)
            package.seek(-1, 1)
            package.write(bytes([byte[0] ^ 0xFF]))
        report = http.post(f"/api/v1/aips/{aip_id}/fixity")
        assert report.status_code == 200 and report.json()["success"] is False, report.text

        reader.join(60)
        assert not reader.is_alive() and reader.error is None, reader.error
        assert reader.connections == 2

        # The stream, cut mid-ingest and resumed, gave every event of the log once, in order.
        assert reader.start_id is not None
        log = http.get("/api/v1/events", params={"after": reader.start_id, "limit": 1000}).json()["items"]
        log = log[:[e["type"] for e in log].index("fixity.failed.v1") + 1]
        assert [e["id"] for e in reader.events] == [e["id"] for e in log]
        assert [e["event_id"] for e in reader.events] == [e["event_id"] for e in log]
        ours = [e for e in log if e["subject"] == aip_id]
        types = [e["type"] for e in ours]
        for expected in ("ingest.queued.v1", "ingest.started.v1", "ingest.progress.v1", "aip.stored.v1",
                         "ingest.stored.v1", "fixity.failed.v1"):
            assert expected in types, types
        assert types.index("ingest.queued.v1") < types.index("ingest.started.v1") < types.index("ingest.stored.v1")
        transfer_id = ours[0]["payload"]["transfer_uuid"]
        transfer_types = [e["type"] for e in log if e["subject"] == transfer_id]
        assert transfer_types[:2] == ["transfer.received.v1", "transfer.approved.v1"], transfer_types
        failed = next(e for e in ours if e["type"] == "fixity.failed.v1")["payload"]
        assert failed["package_sha256_actual"] != failed["package_sha256_expected"]
        # Filters: by type prefix and by package (an ingest's events name its transfer as related).
        only_ours = http.get("/api/v1/events", params={"after": reader.start_id, "package": transfer_id,
                                                       "type": ["ingest.", "transfer."], "limit": 1000}).json()
        assert {e["type"].split(".")[0] for e in only_ours["items"]} == {"ingest", "transfer"}
        assert len(only_ours["items"]) == len([e for e in ours if e["type"].startswith("ingest.")]) + len(
            transfer_types)

        # The receiver was down all along: deliveries are pending, retried. Rotate the secret meanwhile.
        deliveries = http.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", params={"limit": 1000}).json()
        assert deliveries["total"] >= len(log)
        assert any(d["attempts"] >= 1 and d["status"] == "pending" and d["response_code"] is None
                   and d["last_error"] for d in deliveries["items"])
        rotated = http.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret").json()
        assert rotated["secret"] != first_secret and rotated["previous_secret_expires_at"]

        receiver.start()
        try:
            wanted = {e["event_id"] for e in log}
            wait_until(lambda: wanted <= {h["webhook-id"] for h, _ in receiver.received}, 60, "every delivery")
        finally:
            receiver.stop()

        bodies: dict[str, bytes] = {}
        for headers, body in receiver.received:
            # Either secret verifies while the old one is in its grace period (two signatures per message).
            for secret in (first_secret, rotated["secret"]):
                payload = Webhook(secret).verify(body, headers)
                assert payload["data"]["event_id"] == headers["webhook-id"]
            # A message sent twice (duplicates are allowed on the wire) is the same message.
            assert bodies.setdefault(headers["webhook-id"], body) == body
        by_id = {e["event_id"]: e for e in log}
        for event_id in wanted:
            message = json.loads(bodies[event_id])
            assert message["type"] == by_id[event_id]["type"]
            assert message["data"]["id"] == by_id[event_id]["id"]

        log_after = http.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", params={"limit": 1000}).json()
        ours_deliveries = [d for d in log_after["items"] if d["event_row_id"] in {e["id"] for e in log}]
        assert len(ours_deliveries) == len(log)  # one delivery per event, however many attempts
        assert all(d["status"] == "succeeded" and d["response_code"] == 204 for d in ours_deliveries)
        assert any(d["attempts"] > 1 for d in ours_deliveries)
        assert all(d["latency_ms"] is not None for d in ours_deliveries)

        redelivered = http.post(
            f"/api/v1/webhooks/{endpoint['id']}/deliveries/{ours_deliveries[0]['id']}/redeliver").json()
        assert redelivered["status"] == "pending"
        assert http.delete(f"/api/v1/webhooks/{endpoint['id']}").status_code == 204

    # The gateway counts the attempts: every delivered one, and the failures while the receiver was down.
    token = (stack.data_dir / "metrics-token").read_text().strip()
    text = httpx.get(f"{stack.gateway}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30).text
    attempts = {s.labels["outcome"]: s.value for family in text_string_to_metric_families(text)
                for s in family.samples if s.name == "amber_webhook_deliveries_total"}
    assert attempts["delivered"] >= len(log)
    assert attempts.get("error", 0) + attempts.get("5xx", 0) >= 1


def test_a_readers_stream_ends_when_the_key_is_revoked(stack: Stack) -> None:
    with stack.client() as http:
        key = http.post("/api/v1/keys", json={"name": "stream", "username": "stream-reader", "role": "reader"}).json()
        reader = {"Authorization": f"Bearer {key['key']}"}
        assert http.get("/api/v1/webhooks", headers=reader).status_code == 403  # webhooks are the admins'
        lines: list[str] = []
        with httpx.Client(base_url=stack.gateway, headers={**reader, "Accept": "text/event-stream"},
                          timeout=30) as stream_http, stream_http.stream("GET", "/api/v1/events") as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                lines.append(line)
                if line == ": heartbeat" and lines.count(line) == 1:
                    assert http.delete(f"/api/v1/keys/{key['id']}").status_code == 204
        # The stream ended by itself (no timeout), at the first heartbeat after the revocation.
        assert lines.count(": heartbeat") == 1 and lines[0].startswith("retry:")
