"""Issue 12's acceptance: the real amclient 1.7.1 (Python API and CLI), the classic automation-tools / hyrax flow
as plain HTTP, Enduro's probe and Idempotency-Key, and Archivematica's auth failures, against one live stack
through the gateway (`am_url` and `ss_url` both point at it). Tests run in file order: the deletion request and
the hiding come last."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from amclient import AMClient
from fastapi.routing import APIRoute

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack
from gateway.archivematica import ROUTERS
from servicekit.roles import ROLE_EXTENSION, Role, required_role

pytestmark = pytest.mark.e2e
AMCLIENT = str(Path(sys.executable).with_name("amclient"))
DASHBOARD_INVALID = {"message": "API key not valid.", "error": True}


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
        return dict(next(loc for loc in response.json() if loc["is_default"]))


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


def cli(*args: str) -> Any:
    """amclient's CLI; its exit code is always 0, so the answer is read from stdout."""
    result = subprocess.run([AMCLIENT, *args], capture_output=True, text=True, timeout=120, check=True)
    out = result.stdout.strip()
    try:
        return json.loads(out)
    except ValueError:
        return out


def wait_for_aip(client: AMClient, transfer_uuid: str, timeout: float = 300) -> dict[str, Any]:
    """Poll as amclient users do: the transfer until COMPLETE with a SIP, then the SIP until it finishes."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = dict(client.get_unit_status(transfer_uuid))
        except Exception:  # amclient raises on a 400 (unit without jobs yet): pollers retry
            status = {}
        if status.get("status") in ("FAILED", "REJECTED", "USER_INPUT"):
            return status
        if status.get("type") == "SIP" and status.get("status") == "COMPLETE":
            return status
        time.sleep(1)
    raise AssertionError(f"no AIP for {transfer_uuid}: {status}")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def ruby_encode64(text: str) -> str:
    """Ruby's Base64.encode64, as the hyrax connector sends paths: a newline every 60 characters and at the end."""
    flat = b64(text)
    return "".join(flat[i:i + 60] + "\n" for i in range(0, len(flat), 60))


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


def test_create_package_then_get_unit_status_until_the_aip_is_stored(
    stack: EphemeralStack, stored: dict[str, str]
) -> None:
    client = am(stack, transfer_uuid=stored["transfer"], sip_uuid=stored["sip"])
    transfer = client.get_transfer_status()
    assert transfer["type"] == "transfer" and transfer["status"] == "COMPLETE", transfer
    assert transfer["sip_uuid"] == stored["sip"]
    assert transfer["directory"] == f"am-one-{stored['transfer']}" and transfer["name"] == "am-one"
    ingest = client.get_ingest_status()
    assert ingest["type"] == "SIP" and ingest["status"] == "COMPLETE", ingest
    assert ingest["microservice"] == "Remove the processing directory"
    # The SIP UUID is the AIP UUID.
    with stack.client() as http:
        assert http.get(f"/api/v1/aips/{stored['sip']}").json()["status"] in ("stored", "verified")


def test_dashboard_lists_jobs_and_processing_configuration(stack: EphemeralStack, stored: dict[str, str]) -> None:
    client = am(stack, unit_uuid=stored["sip"], processing_config="automated")
    assert stored["transfer"] in client.completed_transfers()["results"]
    assert stored["sip"] in client.completed_ingests()["results"]
    jobs = client.get_jobs()
    assert [job["microservice"] for job in jobs][-1] == "Store AIP", jobs
    assert all(job["status"] == "COMPLETE" for job in jobs)
    assert all(task["exit_code"] == 0 for job in jobs for task in job["tasks"])
    client.job_microservice = "Microservice:Store AIP"
    assert [job["name"] for job in client.get_jobs()] == ["Store AIP"]
    assert "<processingMCP>" in client.get_processing_config()
    client.processing_config = "nosuchconfig"
    assert client.get_processing_config() == 1  # amclient's code for an error answer (404)


def test_unapproved_transfer_is_approved_through_amclient(stack: EphemeralStack) -> None:
    user, key = admin_credentials(stack)
    folder = tiny_folder(stack, "am-approve")
    body = {"name": "am-approve", "path": b64(f"{transfer_source(stack)['uuid']}:{folder}"),
            "processing_config": "automated", "auto_approve": False}
    response = httpx.post(f"{stack.gateway}/api/v2beta/package/", content=json.dumps(body),
                          headers={"Authorization": f"ApiKey {user}:{key}"})
    assert response.status_code == 202, response.text
    transfer_uuid = response.json()["id"]
    client = am(stack)
    unapproved = client.unapproved_transfers()["results"]
    entry = next(u for u in unapproved if u["uuid"] == transfer_uuid)
    assert entry["type"] == "standard" and entry["directory"] == f"am-approve-{transfer_uuid}"
    assert client.get_unit_status(transfer_uuid)["status"] == "USER_INPUT"
    client.transfer_type, client.transfer_directory = "standard", entry["directory"]
    assert client.approve_transfer() == {"message": "Approval successful.", "uuid": transfer_uuid}
    assert wait_for_aip(client, transfer_uuid)["status"] == "COMPLETE"


def test_storage_side_through_amclient(stack: EphemeralStack, stored: dict[str, str], tmp_path: Path) -> None:
    aip = stored["sip"]
    client = am(stack, aip_uuid=aip, package_uuid=aip, directory=str(tmp_path))
    aips = {a["uuid"]: a for a in client.aips()}
    assert aips[aip]["status"] == "UPLOADED" and aips[aip]["package_type"] == "AIP"
    quad = "/".join(aip.replace("-", "")[i:i + 4] for i in range(0, 32, 4))
    assert aips[aip]["current_path"] == f"{quad}/am-one-{aip}.7z"
    assert aips[aip]["current_full_path"].endswith(aips[aip]["current_path"])
    assert aip in client.get_all_compressed_aips()
    assert client.dips() == []
    assert client.aip2dips() == []
    details = client.get_package_details()
    assert details["uuid"] == aip and details["resource_uri"] == f"/api/v2/file/{aip}/"

    client.download_aip()
    saved = tmp_path / f"am-one-{aip}.7z"
    with stack.client() as http:
        original = http.get(f"/api/v1/aips/{aip}/download").content
    assert saved.read_bytes() == original
    user, key = admin_credentials(stack)
    head = httpx.head(f"{stack.gateway}/api/v2/file/{aip}/download/", auth=(user, key))
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(original)
    assert head.headers["content-disposition"] == f'attachment; filename="am-one-{aip}.7z"'
    mets_head = httpx.head(f"{stack.gateway}/api/v2/file/{aip}/extract_file/",
                           params={"relative_path_to_file": f"am-one-{aip}/data/METS.{aip}.xml"}, auth=(user, key))
    assert mets_head.status_code == 200 and "attachment" in mets_head.headers["content-disposition"]
    missing = httpx.get(f"{stack.gateway}/api/v2/file/{aip}/extract_file/", auth=(user, key))
    assert missing.status_code == 400

    client.relative_path, client.saveas_filename = f"am-one-{aip}/data/METS.{aip}.xml", "extracted.xml"
    client.extract_file()
    with stack.client() as http:
        mets = http.get(f"/api/v1/aips/{aip}/files/data/METS.{aip}.xml").content
    assert (tmp_path / "extracted.xml").read_bytes() == mets and b"mets" in mets[:500]
    client.saveas_filename = None
    client.extract_aip_mets_file()
    assert (tmp_path / f"METS.{aip}.xml").read_bytes() == mets


def test_pipelines_locations_and_transferables(stack: EphemeralStack) -> None:
    client = am(stack)
    pipelines = client.get_pipelines()["objects"]
    assert len(pipelines) == 1
    locations = client.list_storage_locations()["objects"]
    assert {"TS", "AS", "BL"} <= {loc["purpose"] for loc in locations}
    source = next(loc for loc in locations if loc["purpose"] == "TS")
    assert source["pipeline"] == [pipelines[0]["resource_uri"]]
    client.location_uuid = source["uuid"]
    assert client.get_location_details() == source
    client.transfer_source, client.transfer_path = source["uuid"], ""
    assert "am-one" in client.transferables()["entries"]
    client.transfer_path = "am-one"
    listed = client.transferables()
    assert listed["entries"] == ["a.txt", "sub"] and listed["directories"] == ["sub"]
    # The pipeline UUID is the one the dashboard's headers name.
    response = httpx.get(f"{stack.gateway}/api/v2beta/package/", headers={"Authorization": stack.auth})
    assert response.headers["X-Archivematica-ID"] == pipelines[0]["uuid"]


def test_create_location_follows_ambers_rules(stack: EphemeralStack) -> None:
    client = am(stack)
    pipeline = client.get_pipelines()["objects"][0]["uuid"]
    space = client.list_storage_locations()["objects"][0]["space"].rstrip("/").rsplit("/", 1)[-1]
    client.pipeline_uuids, client.space_uuid, client.location_purpose = pipeline, space, "AS"
    client.location_description, client.default = "second AIP store", False
    client.space_relative_path = str(stack.data_dir / "storage" / "aips-2")
    created = client.create_location()
    assert created["purpose"] == "AS" and created["path"] == str(stack.data_dir / "storage" / "aips-2"), created
    client.space_relative_path = "/etc/am-outside"
    assert client.create_location() == 1  # outside the allowed roots: refused
    archivist = make_key(stack, "am-archivist", "archivist")
    response = httpx.post(f"{stack.gateway}/api/v2/location/", auth=("am-archivist", archivist),
                          content=json.dumps({"purpose": "AS", "relative_path": str(stack.data_dir / "x")}))
    assert response.status_code == 403  # only administrators manage locations


def test_cli_answers_on_stdout(stack: EphemeralStack, stored: dict[str, str]) -> None:
    user, key = admin_credentials(stack)
    am_opts = ["--am-url", stack.gateway, "--am-user-name", user]
    ss_opts = ["--ss-url", stack.gateway, "--ss-user-name", user]
    assert stored["transfer"] in cli("completed-transfers", key, *am_opts)["results"]
    status = cli("get-transfer-status", stored["transfer"], key, *am_opts)
    assert status["status"] == "COMPLETE" and status["sip_uuid"] == stored["sip"]
    assert cli("get-ingest-status", stored["sip"], key, *am_opts)["status"] == "COMPLETE"
    assert stored["sip"] in [a["uuid"] for a in cli("aips", key, *ss_opts)]
    assert cli("get-pipelines", key, *ss_opts)["objects"][0]["resource_uri"].startswith("/api/v2/pipeline/")
    # A bad key: the CLI still exits 0, and says so on stdout.
    assert "check logs" in str(cli("completed-transfers", "wrong", *am_opts))


def test_classic_flow_as_automation_tools_and_hyrax_send_it(stack: EphemeralStack) -> None:
    """Browse the transfer source, start_transfer with a Ruby-encoded paths[], unapproved, approve, then poll the
    transfer and its SIP, ending with the AIP UPLOADED in /api/v2/file/."""
    user, key = admin_credentials(stack)
    auth = {"username": user, "api_key": key}
    with stack.client() as http:  # an operator makes the pipeline's default configuration automatic
        assert http.put("/api/v1/processing-configurations/default", json={"fields": {}}).status_code == 200
    source = transfer_source(stack)
    folder = tiny_folder(stack, "hyrax deposit with a long enough name to wrap")
    with httpx.Client(base_url=stack.gateway, timeout=120, follow_redirects=False) as http:
        browse = http.get(f"/api/v2/location/{source['uuid']}/browse/", params={**auth, "path": b64("")})
        assert browse.status_code == 200, browse.text
        assert b64(folder) in browse.json()["directories"]

        encoded = ruby_encode64(f"{source['uuid']}:{folder}")
        assert "\n" in encoded.rstrip("\n")
        started = http.post("/api/transfer/start_transfer/", params=auth,
                            data={"name": "hyrax-1", "type": "standard", "accession": "",
                                  "paths[]": [encoded], "row_ids[]": [""]})
        assert started.status_code == 200, started.text
        assert started.json()["message"] == "Copy successful."
        directory = started.json()["path"].rstrip("/").rsplit("/", 1)[-1]

        unapproved = http.get("/api/transfer/unapproved", params=auth)
        assert unapproved.status_code == 200
        assert {"type": "standard", "directory": directory, "uuid": directory[-36:]} in unapproved.json()["results"]

        approved = http.post("/api/transfer/approve/", params=auth, data={"type": "standard", "directory": directory})
        assert approved.status_code == 200, approved.text
        transfer_uuid = approved.json()["uuid"]
        assert directory.endswith(transfer_uuid)

        sip_uuid = None
        for _ in range(300):
            status = http.get(f"/api/transfer/status/{transfer_uuid}", params=auth)
            assert status.status_code == 200, status.text
            assert status.json()["status"] in ("PROCESSING", "COMPLETE"), status.json()
            if status.json()["status"] == "COMPLETE":
                sip_uuid = status.json()["sip_uuid"]
                break
            time.sleep(1)
        assert sip_uuid
        for _ in range(300):
            sip = http.get(f"/api/ingest/status/{sip_uuid}/", params=auth).json()
            assert sip["status"] in ("PROCESSING", "COMPLETE"), sip
            if sip["status"] == "COMPLETE":
                break
            time.sleep(1)
        files = http.get("/api/v2/file/", params={**auth, "package_type": "AIP", "uuid": sip_uuid}).json()
        assert [(f["uuid"], f["status"]) for f in files["objects"]] == [(sip_uuid, "UPLOADED")]
        detail = http.get(f"/api/v2/file/{sip_uuid}/", params=auth)
        assert detail.status_code == 200 and detail.json()["related_packages"] == []


def test_file_list_pages_with_next_paths_carrying_the_query(stack: EphemeralStack, stored: dict[str, str]) -> None:
    user, key = admin_credentials(stack)
    with httpx.Client(base_url=stack.gateway, timeout=60) as http:
        first = http.get("/api/v2/file/", params={"username": user, "api_key": key, "package_type": "AIP",
                                                  "limit": "1"}).json()
        assert first["meta"]["total_count"] >= 2 and len(first["objects"]) == 1
        following = first["meta"]["next"]
        assert following.startswith("/api/v2/file/?") and "api_key=" in following and "offset=1" in following
        second = http.get(following).json()  # no credentials but those `next` carries, as amclient does
        assert second["objects"][0]["uuid"] != first["objects"][0]["uuid"]
        assert second["meta"]["previous"] is not None


def test_enduro_probe_and_idempotency_key(stack: EphemeralStack) -> None:
    user, key = admin_credentials(stack)
    headers = {"Authorization": f"ApiKey {user}:{key}"}
    probe = httpx.get(f"{stack.gateway}/api/v2beta/package/", headers=headers)
    assert probe.status_code == 501
    assert probe.headers["X-Archivematica-Version"] == "1.19.0" and probe.headers["X-Archivematica-ID"]

    folder = tiny_folder(stack, "enduro-1")
    body = {"name": "enduro-1", "path": b64(f"{transfer_source(stack)['uuid']}:{folder}"),
            "processing_config": "automated", "auto_approve": False}
    keyed = {**headers, "Idempotency-Key": "enduro-batch-1"}
    first = httpx.post(f"{stack.gateway}/api/v2beta/package", content=json.dumps(body), headers=keyed, timeout=60)
    again = httpx.post(f"{stack.gateway}/api/v2beta/package/", content=json.dumps(body), headers=keyed, timeout=60)
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert first.json()["id"] == again.json()["id"]
    with stack.client() as http:
        assert http.get("/api/v1/transfers", params={"name": "enduro-1"}).json()["total"] == 1
    changed = httpx.post(f"{stack.gateway}/api/v2beta/package/", content=json.dumps({**body, "name": "other"}),
                         headers=keyed, timeout=60)
    assert changed.status_code == 422 and changed.json()["error"] is True
    undecodable = httpx.post(f"{stack.gateway}/api/v2beta/package/", headers=headers,
                             content=json.dumps({"name": "x", "path": "%%%"}))
    assert undecodable.status_code == 400
    assert undecodable.json() == {"error": True, "message": 'Parameter "path" cannot be decoded.'}


def test_concurrent_requests_with_one_idempotency_key_make_one_transfer(stack: EphemeralStack) -> None:
    user, key = admin_credentials(stack)
    folder = tiny_folder(stack, "enduro-race")
    body = json.dumps({"name": "enduro-race", "path": b64(f"{transfer_source(stack)['uuid']}:{folder}"),
                       "processing_config": "automated", "auto_approve": False})
    headers = {"Authorization": f"ApiKey {user}:{key}", "Idempotency-Key": "race-1"}

    def post(_: int) -> httpx.Response:
        return httpx.post(f"{stack.gateway}/api/v2beta/package/", content=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(post, range(4)))
    assert {a.status_code for a in answers} <= {202, 409}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers if a.status_code == 202}) == 1
    assert all(a.json() == {"error": True, "message": "A request with this Idempotency-Key is being processed."}
               for a in answers if a.status_code == 409)
    with stack.client() as http:
        assert http.get("/api/v1/transfers", params={"name": "enduro-race"}).json()["total"] == 1
    # Another user's identical key is theirs alone.
    other = make_key(stack, "am-archivist", "archivist")
    theirs = httpx.post(f"{stack.gateway}/api/v2beta/package/", content=body.replace("enduro-race\",", "enduro-b\","),
                        headers={"Authorization": f"ApiKey am-archivist:{other}", "Idempotency-Key": "race-1"})
    assert theirs.status_code == 202 and theirs.json()["id"] not in {a.json().get("id") for a in answers}


def test_bad_credentials_in_each_style(stack: EphemeralStack) -> None:
    user, key = admin_credentials(stack)
    gw = stack.gateway
    dashboard = [
        httpx.get(f"{gw}/api/transfer/completed", headers={"Authorization": f"ApiKey {user}:wrong"}),
        httpx.get(f"{gw}/api/transfer/completed", params={"username": user, "api_key": "wrong"}),
        httpx.get(f"{gw}/api/transfer/completed/", params={"username": "nobody", "api_key": key}),
        httpx.post(f"{gw}/api/transfer/approve/", data={"username": user, "api_key": "wrong", "directory": "x"}),
        httpx.get(f"{gw}/api/transfer/completed"),
    ]
    for response in dashboard:
        assert response.status_code == 403 and response.json() == DASHBOARD_INVALID, response.text
        assert response.headers["X-Archivematica-Version"]
    storage = [
        httpx.get(f"{gw}/api/v2/file/", auth=(user, "wrong")),
        httpx.get(f"{gw}/api/v2/file/", headers={"Authorization": f"ApiKey {user}:wrong"}),
        httpx.get(f"{gw}/api/v2/location", params={"username": user, "api_key": "wrong"}),
        httpx.get(f"{gw}/api/v2/pipeline/"),
    ]
    for response in storage:
        assert response.status_code == 401 and response.content == b"", response.text
    # The good key in each style, and both slash forms answered directly.
    for path in ("/api/v2/pipeline", "/api/v2/pipeline/"):
        response = httpx.get(f"{gw}{path}", auth=(user, key))
        assert response.status_code == 200, response.text
    form = httpx.post(f"{gw}/api/transfer/approve", data={"username": user, "api_key": key, "directory": "none"})
    assert form.status_code == 500 and form.json() == {"error": True, "message": "Unable to start the transfer."}


def test_a_reader_reads_but_cannot_start_or_delete(stack: EphemeralStack, stored: dict[str, str]) -> None:
    reader = make_key(stack, "am-reader", "reader")
    headers = {"Authorization": f"ApiKey am-reader:{reader}"}
    gw = stack.gateway
    assert httpx.get(f"{gw}/api/transfer/status/{stored['transfer']}/", headers=headers).status_code == 200
    folder = tiny_folder(stack, "reader-try")
    source = transfer_source(stack)["uuid"]
    refused = [
        httpx.post(f"{gw}/api/v2beta/package/", headers=headers,
                   content=json.dumps({"name": "reader-try", "path": b64(f"{source}:{folder}")})),
        httpx.post(f"{gw}/api/transfer/start_transfer/", params={"username": "am-reader", "api_key": reader},
                   data={"name": "reader-try", "paths[]": [b64(f"{source}:{folder}")], "row_ids[]": [""]}),
        httpx.post(f"{gw}/api/v2/file/{stored['sip']}/delete_aip/", auth=("am-reader", reader),
                   content=json.dumps({"event_reason": "x", "pipeline": "p", "user_id": 1, "user_email": "r@x"})),
    ]
    for response in refused:
        assert response.status_code == 403, response.text
        assert response.json()["error"] is True and "needs role archivist" in response.json()["message"]
    with stack.client() as http:
        assert http.get("/api/v1/transfers", params={"name": "reader-try"}).json()["total"] == 0


def test_features_amber_lacks_say_so(stack: EphemeralStack, stored: dict[str, str]) -> None:
    client = am(stack, aip_uuid=stored["sip"], pipeline_uuid=am(stack).get_pipelines()["objects"][0]["uuid"],
                reingest_type="FULL", processing_config="automated")
    assert client.reingest_aip() == 1
    user, key = admin_credentials(stack)
    for method, path in [("POST", f"/api/v2/file/{stored['sip']}/reingest/"), ("POST", "/api/transfer/reingest"),
                         ("GET", "/api/administration/dips/atom/levels/"), ("GET", "/api/v2beta/task/x")]:
        response = httpx.request(method, f"{stack.gateway}{path}", headers={"Authorization": f"ApiKey {user}:{key}"},
                                 content=b"{}")
        assert response.status_code == 501 and response.json()["error"] is True, (path, response.text)
        assert "Amber does not support" in response.json()["message"]


def test_a_decision_shows_as_user_input_and_backlog_as_complete(stack: EphemeralStack) -> None:
    """A configuration asking at "Create SIP(s)?": the transfer waits (USER_INPUT, in ingest/waiting); answered
    "Send to backlog" through Amber's API, it is COMPLETE with sip_uuid BACKLOG."""
    with stack.client() as http:
        put = http.put("/api/v1/processing-configurations/asking", json={"fields": {"create_sip": "ask"}})
        assert put.status_code in (200, 201), put.text
    client = am(stack, transfer_source=transfer_source(stack)["uuid"],
                transfer_directory=tiny_folder(stack, "am-ask"), transfer_name="am-ask", processing_config="asking")
    transfer_uuid = client.create_package()["id"]
    status = wait_for_aip(client, transfer_uuid)
    assert (status["status"], status["microservice"]) == ("USER_INPUT", "Create SIP(s)?"), status
    assert "sip_uuid" not in status
    client.unit_uuid = transfer_uuid  # jobs of a transfer are its ingest's
    assert client.get_jobs()[-1] | {"uuid": None, "link_uuid": None} == {
        "uuid": None, "link_uuid": None, "name": "Create SIP(s)?", "status": "USER_INPUT",
        "microservice": "Create SIP(s)?", "tasks": []}
    user, key = admin_credentials(stack)
    units = httpx.get(f"{stack.gateway}/api/ingest/waiting", params={"username": user, "api_key": key}).json()
    assert any(u["microservice"] == "Create SIP(s)?" for u in units["results"]), units
    with stack.client() as http:
        ingest_uuid = http.get(f"/api/v1/transfers/{transfer_uuid}").json()["ingest_uuid"]
        answered = http.post(f"/api/v1/ingests/{ingest_uuid}/decisions",
                             json={"point": "create_sip", "choice": "Send to backlog"})
        assert answered.status_code == 202, answered.text
    # Moving the transfer to the backlog location is real work: on a machine loaded threefold it took over 120 s.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = client.get_unit_status(transfer_uuid)
        if status["status"] != "PROCESSING" and status.get("microservice") != "Create SIP(s)?":
            break
        time.sleep(1)
    assert (status["status"], status.get("sip_uuid")) == ("COMPLETE", "BACKLOG"), status
    assert transfer_uuid in client.completed_transfers()["results"]


def test_archivematicaphp_prefix_reaches_the_unanchored_dashboard_routes(
    stack: EphemeralStack, stored: dict[str, str]
) -> None:
    headers = {"Authorization": stack.auth}
    completed = httpx.get(f"{stack.gateway}/api/v2/transfer/completed/", headers=headers)
    assert completed.status_code == 200 and stored["transfer"] in completed.json()["results"]
    assert completed.headers["X-Archivematica-Version"] == "1.19.0"
    status = httpx.get(f"{stack.gateway}/api/v2/transfer/status/{stored['transfer']}/", headers=headers)
    assert status.json()["sip_uuid"] == stored["sip"]
    # Anchored in Archivematica, so not found there either.
    assert httpx.get(f"{stack.gateway}/api/v2/ingest/completed/", headers=headers).status_code == 404


def test_odd_input_gets_an_answer_never_a_500(stack: EphemeralStack) -> None:
    user, key = admin_credentials(stack)
    headers = {"Authorization": f"ApiKey {user}:{key}"}
    source = transfer_source(stack)["uuid"]
    calls = [
        ("GET", "/api/transfer/status/not-a-uuid", b"", 400),
        ("GET", "/api/ingest/status/00000000-0000-0000-0000-000000000000/", b"", 400),
        ("GET", "/api/v2beta/jobs/nothing", b"", 400),
        ("POST", "/api/v2beta/package/", b"not json", 400),
        ("POST", "/api/v2beta/package/", b"[]", 400),
        ("POST", "/api/v2beta/package/", json.dumps({"name": "x"}).encode(), 400),
        ("POST", "/api/v2beta/package/", json.dumps({"name": "x", "path": b64("a:b"), "type": "dspace"}).encode(), 400),
        ("POST", "/api/v2beta/package/", json.dumps({"name": "x", "path": b64(f"{source}:../../etc")}).encode(), 500),
        ("GET", "/api/v2/file/?limit=abc&offset=-5", b"", 200),
        ("GET", "/api/v2/file/not-a-uuid/", b"", 404),
        ("GET", f"/api/v2/location/{source}/browse/?path=%25%25%25", b"", 200),
        ("GET", f"/api/v2/location/{source}/browse/?path={b64('../..')}", b"", 404),
        ("POST", "/api/v2/location/", b"{", 400),
        ("POST", "/api/v2/location/", json.dumps({"purpose": "XX", "relative_path": "x"}).encode(), 400),
        ("POST", f"/api/v2/file/{uuid.uuid4()}/delete_aip/", b"{}", 400),
        ("GET", "/api/processing-configuration/automated", b"", 200),
    ]
    for method, path, body, expected in calls:
        response = httpx.request(method, f"{stack.gateway}{path}", headers=headers, content=body, timeout=60)
        assert response.status_code == expected, (method, path, response.status_code, response.text)
    assert httpx.get(f"{stack.gateway}/api/processing-configuration/automated",
                     headers={**headers, "Accept": "application/json"}).status_code == 415


def test_housekeeping_hides_units(stack: EphemeralStack, stored: dict[str, str]) -> None:
    client = am(stack)
    assert client.hide_unit(stored["transfer"], "transfer") == {"removed": True}
    assert client.hide_unit(stored["transfer"], "transfer") == 1  # already hidden: 409
    assert stored["transfer"] not in client.completed_transfers()["results"]
    closed = client.close_completed_transfers()
    assert closed["close_failed"] == [] and stored["transfer"] not in closed["close_succeeded"]
    assert client.completed_transfers()["results"] == []
    closed = client.close_completed_ingests()
    assert stored["sip"] in closed["close_succeeded"] and closed["close_failed"] == []
    assert client.completed_ingests()["results"] == []


def test_delete_aip_makes_a_deletion_request(stack: EphemeralStack, stored: dict[str, str]) -> None:
    client = am(stack, aip_uuid=stored["sip"], event_reason="duplicate", ss_user_id="1",
                ss_user_email="archivist@example.org",
                pipeline_uuid=am(stack).get_pipelines()["objects"][0]["uuid"])
    answer = client.delete_aip()
    assert answer["message"] == "Delete request created successfully.", answer
    assert client.delete_aip() == {"message": "A deletion request already exists for this AIP."}
    with stack.client() as http:
        pending = http.get("/api/v1/deletion-requests", params={"status": "pending"}).json()
    assert [r["package_uuid"] for r in pending] == [stored["sip"]]
    client.package_uuid = stored["sip"]
    assert client.get_package_details()["status"] == "DEL_REQ"


def compat_operations() -> list[tuple[str, str, Role]]:
    """Every compatibility route with the role it declares (none declared would mean admin)."""
    operations = []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            assert ROLE_EXTENSION in (route.openapi_extra or {}), route.path
            path = re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS.get(m.group(1), str(uuid.uuid4())), route.path)
            for method in sorted(route.methods or ()):
                operations.append((method, path, required_role(route.openapi_extra or {})))
    return operations


PLACEHOLDERS = {"name": "automated", "validator": "rights", "purpose": "AS"}


# Archivematica answers every error of these with 500, and its clients rely on it.
FIVE_HUNDRED_BY_CONTRACT = ("/api/transfer/start_transfer", "/api/transfer/approve", "/api/v2beta/package")


def test_every_route_is_refused_below_its_declared_role(stack: EphemeralStack) -> None:
    """Last in the module (it hides every finished unit): every compatibility route, called with a reader's, an
    archivist's and an administrator's key, refuses exactly the roles below the one it declares, and never
    answers a 500 outside Archivematica's contract."""
    operations = compat_operations()
    assert len(operations) > 60
    keys = {Role.reader: ("am-reader", make_key(stack, "am-reader", "reader")),
            Role.archivist: ("am-archivist", make_key(stack, "am-archivist", "archivist")),
            Role.admin: admin_credentials(stack)}
    with httpx.Client(base_url=stack.gateway, timeout=60) as http:
        for method, path, needed in operations:
            for role, (user, key) in keys.items():
                response = http.request(method, path, headers={"Authorization": f"ApiKey {user}:{key}"},
                                        content=b"{}")
                refused = response.status_code == 403 and "needs role" in response.text
                assert refused == (not role.allows(needed)), (method, path, role, response.status_code, response.text)
                assert response.status_code < 500 or response.status_code == 501 \
                    or path.rstrip("/").replace("/api/v2/", "/api/") in FIVE_HUNDRED_BY_CONTRACT, \
                    (method, path, response.text)
