"""Schemathesis against a live stack's merged /openapi.json: every public operation, with a key of each role.

No answer may be a server error, and every answer must be one the document describes (status, content type and
schema). The stack is seeded first (a stored AIP, an ingest waiting for a decision, transfers waiting for approval,
a deletion request, an upload session, a location, an audit, a processing configuration, a spare key): valid requests
take those real ids as path parameters, and a few valid requests the generator cannot make up (the answer the ingest
waits for, a METS document, an archive) go first, so every operation runs for real instead of stopping at a 404.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack
from servicekit.roles import Role

pytestmark = pytest.mark.e2e

# Per operation, role and generation mode. The suite draws 10 (about a minute for 69 operations x 2 modes, the
# stack's start and seeding included); AMBER_FUZZ_EXAMPLES=50 or more for a run by hand.
EXAMPLES = int(os.environ.get("AMBER_FUZZ_EXAMPLES", "10"))
CHECKS: list[CheckFunction] = [
    not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
]


# Operations whose valid requests are all refused here, and why; every other one must succeed at least once.
REFUSED_HERE = {
    "POST /api/v1/aips/{aip_uuid}/recover": "the AIP passes its fixity check: nothing to recover (409)",
    "POST /api/v1/aips/{aip_uuid}/deletion-requests": "the seeded request is pending: one at a time (409)",
    "POST /api/v1/deletion-requests/{request_uuid}/reject": "the request is approved just before (409)",
}


@dataclass
class Tally:
    cases: Counter[str] = field(default_factory=Counter)
    valid_answers: dict[str, Counter[int]] = field(default_factory=dict)  # statuses answered to valid requests
    failures: dict[str, str] = field(default_factory=dict)
    unbreakable: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EphemeralStack]:
    """A stack of its own: fuzzing creates, changes and deletes things the other end-to-end tests count on."""
    with ephemeral_stack(tmp_path_factory.mktemp("fuzz-data")) as running:
        yield running


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _wait_for(http: httpx.Client, url: str, done: Callable[[dict[str, Any]], bool], timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(url)
        if response.status_code == 200 and done(response.json()):
            return response.json()
        assert time.monotonic() < deadline, (url, response.status_code, response.text)
        time.sleep(0.5)


def _archive(name: str) -> bytes:
    return _zip({f"{name}/hello.txt": b"hello fuzz\n", f"{name}/sub/data.csv": b"a,b\n1,2\n"})


def _upload(http: httpx.Client, name: str, **params: str) -> dict[str, Any]:
    response = http.post("/api/v1/transfers/upload", params={"name": name, "archive_format": "zip", **params},
                         content=_archive(name), headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _created(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


@dataclass
class Seed:
    ids: dict[str, str]  # a real value for every path parameter of the public document, by name
    # Requests the generator cannot make up (an answer the ingest waits for, real documents and archives), by
    # operation: keyword arguments of `APIOperation.as_strategy`, sent before the generated ones.
    valid: dict[str, list[dict[str, Any]]]


def seed(stack: EphemeralStack, tmp_path: Path) -> Seed:
    with stack.client() as http:
        # Registered first, so the events of what follows give it deliveries (to no one: they stay pending).
        webhook = _created(http.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}))
        stored = _upload(http, "fuzz-stored")
        waiting = _upload(http, "fuzz-decision", processing_config="default")
        unapproved = [_upload(http, f"fuzz-unapproved-{n}", auto_approve="false") for n in (1, 2)]
        stored = _wait_for(http, f"/api/v1/transfers/{stored['uuid']}", lambda t: t["ingest_uuid"] is not None)
        aip = stored["ingest_uuid"]
        _wait_for(http, f"/api/v1/ingests/{aip}", lambda i: i["status"] == "stored")
        waiting = _wait_for(http, f"/api/v1/transfers/{waiting['uuid']}", lambda t: t["ingest_uuid"] is not None)
        decision = _wait_for(http, f"/api/v1/ingests/{waiting['ingest_uuid']}",
                             lambda i: i["status"] == "awaiting_decision")["decision"]

        # A deletion must be approved by another user than its requester: an archivist asks, the fuzzing admin
        # answers (near the end, see `_ordered`).
        archivist = _created(http.post(
            "/api/v1/keys", json={"name": "fuzz", "username": "fuzz-archivist", "role": "archivist"}
        ))
        asked = _created(httpx.post(f"{stack.gateway}/api/v1/aips/{aip}/deletion-requests", json={"reason": "fuzz"},
                                    headers={"Authorization": f"Bearer {archivist['key']}"}, timeout=60))
        spare_key = _created(http.post("/api/v1/keys", json={"name": "revocable"}))
        # Locations must lie inside the allowed roots (by default the data directory).
        for name in ("replicator", "another-replicator"):
            (stack.data_dir / name).mkdir()
        replicator = _created(http.post("/api/v1/locations",
                                        json={"purpose": "replicator", "path": str(stack.data_dir / "replicator")}))
        aip_store = http.get("/api/v1/locations", params={"purpose": "aip_storage"}).json()[0]
        source = http.get("/api/v1/locations", params={"purpose": "transfer_source"}).json()[0]
        (Path(source["path"]) / "fuzz-source" / "objects").mkdir(parents=True)
        (Path(source["path"]) / "fuzz-source" / "objects" / "note.txt").write_text("from a transfer source\n")
        audit = _created(http.post(f"/api/v1/locations/{aip_store['uuid']}/audits"))
        archive = _archive("fuzz-upload")
        upload = _created(http.post("/api/v1/uploads", json={
            "name": "fuzz-upload", "size": len(archive), "sha256": hashlib.sha256(archive).hexdigest(),
            "archive_format": "zip",
        }))
        _created(http.put("/api/v1/processing-configurations/fuzz", json={"fields": {}}))
        processing_mcp = http.get("/api/v1/processing-configurations/automated/processingMCP.xml").content
        mets = http.get(f"/api/v1/mets/{aip}").content
        delivery = _wait_for(http, f"/api/v1/webhooks/{webhook['id']}/deliveries",
                             lambda page: page["total"] > 0)["items"][0]
        # The format policy registry ships its defaults: real names and ids to read, edit and delete.
        policy = {kind: http.get(f"/api/v1/{kind}", params={"limit": 1}).json()["items"][0]
                  for kind in ("formats", "format-tools", "format-commands", "format-rules")}
        # Shipped rules can only be disabled; a rule of the archive's own can be deleted too.
        own_rule = _created(http.post("/api/v1/format-rules", json={
            "purpose": "access", "puid": policy["formats"]["puid"], "command": policy["format-commands"]["name"],
        }))

    xml = "application/xml"
    return Seed(
        ids={
            "aip_uuid": aip,
            "package_uuid": aip,
            "path": f"data/METS.{aip}.xml",
            "ingest_uuid": waiting["ingest_uuid"],
            "transfer_uuid": unapproved[0]["uuid"],
            "request_uuid": asked["uuid"],
            "key_id": spare_key["id"],
            "location_uuid": aip_store["uuid"],
            "replicator_uuid": replicator["uuid"],
            "audit_uuid": audit["uuid"],
            "upload_uuid": upload["uuid"],
            "name": "fuzz",
            "puid": policy["formats"]["puid"],
            "rule_uuid": own_rule["uuid"],
            "endpoint_id": webhook["id"],
            "delivery_id": str(delivery["id"]),
        },
        valid={
            "POST /api/v1/ingests/{ingest_uuid}/decisions": [
                {"body": {"point": decision["point"], "choice": decision["choices"][0]}},
            ],
            "POST /api/v1/processing-configurations/{name}/import": [{"body": processing_mcp, "media_type": xml}],
            "POST /api/v1/mets/validate": [{"body": mets, "media_type": xml}],
            "POST /api/v1/transfers/upload": [{
                "body": _archive("fuzz-valid"), "media_type": "application/octet-stream",
                "query": {"name": "fuzz-valid", "archive_format": "zip"},
            }],
            "PUT /api/v1/uploads/{upload_uuid}": [{
                "body": archive, "media_type": "application/octet-stream",
                "headers": {"content-range": f"bytes 0-{len(archive) - 1}/{len(archive)}"},
            }],
            "POST /api/v1/transfers": [
                {"body": {"name": "fuzz-source", "location_uuid": source["uuid"], "path": "fuzz-source"}},
            ],
            "POST /api/v1/webhooks": [{"body": {"url": "http://127.0.0.1:9/other", "event_types": ["ingest."]}}],
            "POST /api/v1/locations": [
                {"body": {"purpose": "replicator", "path": str(stack.data_dir / "another-replicator")}},
            ],
            # `name` is the processing configuration's elsewhere.
            **{f"{method} /api/v1/{kind}/{{name}}": [{"path_parameters": {"name": policy[kind]["name"]}}]
               for kind in ("format-tools", "format-commands") for method in ("GET", "PATCH")},
            # The first transfer waiting for approval is approved by then.
            "POST /api/v1/transfers/{transfer_uuid}/reject": [
                {"path_parameters": {"transfer_uuid": unapproved[1]["uuid"]}},
            ],
        },
    )


def roles(stack: EphemeralStack) -> list[tuple[str, str]]:
    """(role, Authorization header) pairs to fuzz with: a reader's, an archivist's and the administrator's key.

    The lower roles go first, so that what they are refused (a 403 the document must describe too) is tried on the
    seeded data before the administrator's requests change or delete it.
    """
    pairs = []
    with httpx.Client(base_url=stack.gateway, headers={"Authorization": stack.auth}, timeout=30) as http:
        for role in (Role.reader, Role.archivist):
            username = f"fuzzer-{role.value}"
            created = http.post("/api/v1/keys", json={"name": "fuzz", "username": username, "role": role.value})
            assert created.status_code == 201, created.text
            pairs.append((role.value, f"ApiKey {username}:{created.json()['key']}"))
    return [*pairs, (Role.admin.value, stack.auth)]


def _ordered(operations: list[Any]) -> list[Any]:
    """The document's order, but what destroys seeded data last: the DELETEs, then the approval of the deletion
    request (it deletes the AIP the others use), then its rejection (which then finds it decided)."""

    def rank(operation: Any) -> int:
        if "/deletion-requests/" in operation.path:
            return 3 if operation.path.endswith("/reject") else 2
        return 1 if operation.method.upper() == "DELETE" else 0

    return sorted(operations, key=rank)


def _run(operation: Any, strategy: Any, examples: int, mode: GenerationMode, auth: str, label: str,
         tally: Tally) -> None:
    """`examples` cases drawn from `strategy`, each sent and checked; failures are recorded, not raised."""

    # No shrinking, no example database: every failure is recorded as found and the run stays bounded.
    @settings(max_examples=examples, deadline=None, phases=[Phase.generate], database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Case) -> None:
        tally.cases[label] += 1
        response = case.call(headers={"Authorization": auth}, timeout=60)
        if mode is GenerationMode.POSITIVE:
            tally.valid_answers.setdefault(operation.label, Counter())[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Failure, FailureGroup) as failure:
            tally.failures.setdefault(label, f"{failure}\n{case.as_curl_command({'Authorization': '***'})}")

    try:
        run()
    except Unsatisfiable:
        # Nothing to break: an operation without parameters or body has no invalid request to make.
        assert mode is GenerationMode.NEGATIVE, label
        tally.unbreakable.append(label)


def _fuzz(operation: Any, role: str, auth: str, seeded: Seed, tally: Tally) -> None:
    label = f"{role} {operation.label}"
    # The admin's requests reach every operation's logic; the other roles' mostly stop at the gateway's role check
    # (which the authorization matrix covers), so they get a third of the examples.
    examples = EXAMPLES if role == Role.admin.value else max(3, EXAMPLES // 3)
    # Valid requests use the seeded ids; invalid ones make up their own, so that malformed ids are tried too.
    ids = {p.name: seeded.ids[p.name] for p in operation.path_parameters if p.name in seeded.ids}
    for valid in seeded.valid.get(operation.label, []):
        arguments = {**valid, "path_parameters": {**ids, **valid.get("path_parameters", {})}}
        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE, **arguments)
        _run(operation, strategy, 1, GenerationMode.POSITIVE, auth, label, tally)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(
            generation_mode=mode, path_parameters=ids if mode is GenerationMode.POSITIVE else {},
        )
        _run(operation, strategy, examples, mode, auth, label, tally)


def test_every_public_operation_survives_fuzzing(fuzz_stack: EphemeralStack, tmp_path: Path) -> None:
    started = time.monotonic()
    seeded = seed(fuzz_stack, tmp_path)
    seeding_done = time.monotonic()
    schema = schemathesis.openapi.from_url(f"{fuzz_stack.gateway}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # an operation schemathesis cannot read is a defect of the document
        operations.append(result.ok())
    operations = _ordered(operations)
    keys = roles(fuzz_stack)
    tally = Tally()
    for operation in operations:
        for role, auth in keys:
            _fuzz(operation, role, auth, seeded, tally)
    refused = {label: dict(statuses) for label, statuses in tally.valid_answers.items() if min(statuses) >= 300}
    summary = {
        "operations": len(operations), "cases": sum(tally.cases.values()), "failures": len(tally.failures),
        "without negative cases": len(tally.unbreakable),
"seed seconds": round(seeding_done - started, 1),
        "fuzz seconds": round(time.monotonic() - seeding_done, 1),
        "valid requests never successful": refused,
    }
    print(json.dumps(summary, indent=2))
    assert len(operations) >= 60
    # The seeding works: valid requests reach every operation's logic, and all but a few succeed.
    assert not [label for label, statuses in tally.valid_answers.items() if set(statuses) == {404}]
    assert set(refused) <= set(REFUSED_HERE), refused
    assert not tally.failures, "\n\n".join(f"{label}\n{text}" for label, text in tally.failures.items())
