"""The Foundation's acceptance: a folder becomes a stored, valid AIP through the gateway."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import bagit
import httpx
import pytest
from lxml import etree
from standardwebhooks import Webhook

from amber_cli.ephemeral import free_port
from services.metadata.mets.validation import validate_mets
from tests.e2e.conftest import Stack, make_tree
from tests.e2e.webhook_receiver import Receiver, last_event_id, wait_until

pytestmark = pytest.mark.e2e
NS = {"mets": "http://www.loc.gov/METS/", "premis": "http://www.loc.gov/premis/v3",
      "xlink": "http://www.w3.org/1999/xlink"}


def download_and_unpack(stack: Stack, aip_id: str, dest: Path) -> Path:
    archive = dest / "aip.7z"
    with stack.client() as http, http.stream("GET", f"/api/v1/aips/{aip_id}/download") as response:
        assert response.status_code == 200, response.read()
        assert "attachment" in response.headers["content-disposition"]
        with archive.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    unpacked = dest / "unpacked"
    subprocess.run(["7z", "x", "-bd", "-y", f"-o{unpacked}", str(archive)], check=True, capture_output=True)
    return unpacked


def test_folder_of_1000_files_becomes_a_valid_stored_aip(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "Hart papers"
    files = make_tree(source, 1000)
    result = stack.amber("ingest", str(source), "--wait", "--json")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    summary = json.loads(lines[0])
    assert summary["status"] == "stored", summary
    aip_id = summary["aip_id"]
    assert summary["transfer_id"] and aip_id
    hexdigits = aip_id.replace("-", "")
    quad = "/".join(hexdigits[i:i + 4] for i in range(0, 32, 4))
    assert summary["aip_path"] == f"{quad}/Hart_papers-{aip_id}.7z"

    unpacked = download_and_unpack(stack, aip_id, tmp_path)
    tops = list(unpacked.iterdir())
    assert [p.name for p in tops] == [f"Hart_papers-{aip_id}"]
    bag = bagit.Bag(str(tops[0]))
    bag.validate()  # full validation: every payload file hashed against the manifest
    assert bag.info["External-Identifier"] == aip_id

    mets_path = tops[0] / "data" / f"METS.{aip_id}.xml"
    assert validate_mets(mets_path) == []
    tree = etree.parse(str(mets_path))
    root_div = tree.find(".//mets:structMap[@TYPE='physical']/mets:div", NS)
    assert root_div is not None and root_div.get("LABEL") == f"Hart_papers-{aip_id}"
    listed: dict[str, tuple[str, str | None]] = {}
    for tech in tree.iterfind(".//mets:techMD//premis:object", NS):
        name = tech.findtext("premis:originalName", namespaces=NS)
        digest = tech.findtext(".//premis:fixity/premis:messageDigest", namespaces=NS)
        puid = tech.findtext(".//premis:formatRegistry/premis:formatRegistryKey", namespaces=NS)
        listed[name.removeprefix("%transferDirectory%objects/")] = (digest, puid)
    assert set(listed) == set(files)
    for relative, content in files.items():
        digest, puid = listed[relative]
        assert digest == hashlib.sha256(content).hexdigest()
        assert puid == "x-fmt/111"
        assert (tops[0] / "data" / "objects" / relative).read_bytes() == content


def test_gateway_requires_a_key_and_merges_every_service(stack: Stack) -> None:
    anonymous = httpx.get(f"{stack.gateway}/api/v1/ingests", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    spec = httpx.get(f"{stack.gateway}/openapi.json", timeout=30).json()
    operations = {
        op["operationId"]: op for path in spec["paths"].values() for op in path.values() if isinstance(op, dict)
        and "operationId" in op
    }
    tags = {tag for op in operations.values() for tag in op.get("tags", [])}
    assert {"transfer", "ingest", "metadata", "storage"} <= tags
    for expected in ("upload_transfer", "get_ingest", "list_premis_files", "download_aip_package"):
        assert expected in operations, expected
    # Operations for workers and peer services only are neither documented nor reachable from outside.
    assert "create_ingest" not in operations and "store_aip_package" not in operations
    assert all(path.startswith("/api/v1/") for path in spec["paths"])


def test_killed_worker_mid_ingest_leaves_one_aip_and_no_duplicates(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "crash test"
    files = make_tree(source, 1500, payload=2048)
    started = json.loads(stack.amber("ingest", str(source), "--json").stdout.strip().splitlines()[-1])
    aip_id = started["aip_id"]
    assert aip_id, started
    with stack.client() as http:
        deadline = time.monotonic() + 120
        while True:
            ingest = http.get(f"/api/v1/ingests/{aip_id}").json()
            if ingest["files_done"] > 0 or ingest["status"] in {"stored", "failed"}:
                break
            assert time.monotonic() < deadline, ingest
            time.sleep(0.05)
        assert ingest["status"] == "processing", f"ingest finished before the crash could be staged: {ingest}"
        subprocess.run(["kill", "-9", str(stack.pid("worker-1"))], check=True)
        replacement = subprocess.Popen(
            [sys.executable, "-m", "amber_cli", "worker"], env=stack.env,
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker2.log").open("wb"), start_new_session=True,
        )
        (stack.data_dir / "run" / "worker-1.pid").write_text(str(replacement.pid))
        deadline = time.monotonic() + 300
        while True:
            ingest = http.get(f"/api/v1/ingests/{aip_id}").json()
            if ingest["status"] in {"stored", "failed"}:
                break
            assert time.monotonic() < deadline, ingest
            time.sleep(0.5)
        assert ingest["status"] == "stored", ingest
        assert ingest["files_done"] == len(files)

        premis_files = http.get(f"/api/v1/premis/packages/{aip_id}/files", params={"limit": 1}).json()
        assert premis_files["total"] == len(files)
        events = http.get(f"/api/v1/premis/packages/{aip_id}/events", params={"limit": 1}).json()
        # ingestion, message digest, identification, virus check per file; the AIP's compression
        assert events["total"] == 4 * len(files) + 1
        aips = http.get("/api/v1/aips", params={"limit": 1000}).json()
        assert [a["uuid"] for a in aips["items"]].count(aip_id) == 1
        stored_files = list((stack.data_dir / "storage" / "aips").rglob(f"*{aip_id}*"))
        # one package file, and its pointer file beside it
        assert sorted(p.name.startswith("pointer.") for p in stored_files if p.is_file()) == [False, True]


def test_every_component_killed_and_restarted_mid_ingest_loses_and_duplicates_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    source = tmp_path / "restarts"
    files = make_tree(source, 2000, payload=1024)
    # A webhook receiver that is down until everything has been restarted: its events must still all arrive.
    receiver = Receiver(free_port())
    with stack.client() as http:
        endpoint = http.post("/api/v1/webhooks", json={"url": f"http://127.0.0.1:{receiver.port}/"}).json()
        first_event = last_event_id(http)
    started = json.loads(stack.amber("ingest", str(source), "--json").stdout.strip().splitlines()[-1])
    aip_id = started["aip_id"]
    with stack.client() as http:

        def ingest_state() -> dict[str, object]:
            deadline = time.monotonic() + 120
            while True:  # the gateway or the ingest service may be the one restarting
                try:
                    response = http.get(f"/api/v1/ingests/{aip_id}")
                    if response.status_code == 200:
                        state: dict[str, object] = response.json()
                        return state
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the stack did not come back"
                time.sleep(0.2)

        for component in ("metadata", "ingest", "worker-1", "temporal", "storage", "gateway"):
            if ingest_state()["status"] in {"stored", "failed"}:
                break
            subprocess.run(["kill", "-9", str(stack.pid(component))], check=True)
            time.sleep(0.5)
            stack.amber("up", timeout=300)  # brings back whatever is down, as a user would
        deadline = time.monotonic() + 300
        while (state := ingest_state())["status"] not in {"stored", "failed"}:
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        assert state["status"] == "stored", state
        assert state["files_done"] == len(files)
        assert http.get(f"/api/v1/premis/packages/{aip_id}/files", params={"limit": 1}).json()["total"] == len(files)
        events = http.get(f"/api/v1/premis/packages/{aip_id}/events", params={"limit": 1}).json()
        assert events["total"] == 4 * len(files) + 1  # and one compression, however often it was retried
        aips = http.get("/api/v1/aips", params={"limit": 1000}).json()
        assert [a["uuid"] for a in aips["items"]].count(aip_id) == 1

        # Every event of the ingest was collected once, despite the kills, and reached the receiver once it came
        # up, each under one webhook-id.
        def ours() -> list[dict[str, Any]]:
            log = http.get("/api/v1/events", params={"after": first_event, "package": aip_id, "limit": 1000})
            return [e for e in log.json()["items"] if e["subject"] == aip_id]

        wait_until(lambda: "ingest.stored.v1" in [e["type"] for e in ours()], 60, "the stored event")
        types = Counter(e["type"] for e in ours())
        assert types["ingest.queued.v1"] == types["ingest.started.v1"] == types["ingest.stored.v1"] == 1, types
        assert types["aip.stored.v1"] == 1 and types["ingest.progress.v1"] >= 2 * (len(files) // 100), types
        receiver.start()
        try:
            wanted = {e["event_id"]: e["type"] for e in ours()}
            wait_until(lambda: set(wanted) <= {h["webhook-id"] for h, _ in receiver.received}, 120, "deliveries")
        finally:
            receiver.stop()
            http.delete(f"/api/v1/webhooks/{endpoint['id']}")
        delivered = {headers["webhook-id"]: json.loads(body)["type"] for headers, body in receiver.received}
        assert {i: t for i, t in delivered.items() if i in wanted} == wanted
        assert list(delivered.values()).count("ingest.stored.v1") == 1
        for headers, body in receiver.received:
            Webhook(endpoint["secret"]).verify(body, headers)


def test_the_default_configuration_is_answered_through_the_gateway(stack: Stack, tmp_path: Path) -> None:
    """`default` stops the package at each point it leaves open; `amber decide` (the gateway's decisions
    endpoint) answers each, and the AIP is stored."""
    source = tmp_path / "decided"
    make_tree(source, 5)
    started = json.loads(stack.amber("ingest", str(source), "--processing-config", "default", "--json").stdout)
    transfer_id = started["transfer_id"]
    answers = {"select_format_id_tool_transfer": "Yes", "extract_packages": "Yes", "delete_packages": "No",
               "create_sip": "Create single SIP and continue processing", "normalize": "Do not normalize",
               "transcribe_file": "No", "reminder": "Continue",
               "store_aip": "Store AIP"}
    asked: list[str] = []
    deadline = time.monotonic() + 180
    with stack.client() as http:
        while time.monotonic() < deadline:
            transfer = http.get(f"/api/v1/transfers/{transfer_id}").json()
            ingest_id = transfer.get("ingest_uuid")
            if ingest_id:
                ingest = http.get(f"/api/v1/ingests/{ingest_id}").json()
                if ingest["status"] in ("stored", "failed", "rejected"):
                    break
                decision = ingest.get("decision")
                if ingest["status"] == "awaiting_decision" and decision and decision["point"] not in asked:
                    assert decision["choices"] and decision["question"]
                    asked.append(decision["point"])
                    stack.amber("decide", ingest_id, decision["point"], answers[decision["point"]])
            time.sleep(0.3)
        else:
            pytest.fail(f"the ingest did not finish; asked so far: {asked}")
    assert ingest["status"] == "stored", ingest.get("error")
    assert asked == list(answers)
