"""The authorization matrix, generated from the stack's own /openapi.json so that no operation can skip it.

The four real services and the gateway are served over HTTP in one data directory (no Temporal: the ingest
service connects on first use, and no request here gets that far). Every public operation is called with no key, a
revoked key, a disabled user's key, and a reader's, an archivist's and an administrator's key: the first three get
401, a role below the operation's `x-amber-role` gets 403, and any other answer (a 404 or 422 from the service
included) shows the request got past authorization.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.keys.admin import ensure_admin
from gateway.main import create_app as create_gateway
from gateway.openapi.merge import HTTP_METHODS, role_sentence
from gateway.settings import GatewaySettings
from servicekit.roles import ROLE_EXTENSION, Role, required_role
from services.ingest.main import create_app as create_ingest
from services.ingest.settings import IngestSettings
from services.metadata.main import create_app as create_metadata
from services.metadata.settings import MetadataSettings
from services.storage.main import create_app as create_storage
from services.storage.settings import StorageSettings
from services.transfer.main import create_app as create_transfer
from services.transfer.settings import TransferSettings
from tests.conftest import bound_socket, serve_http
from tests.gateway.harness import dead_url

TOKEN = "matrix-internal-token"
PROCESSES = ("transfer", "ingest", "metadata", "storage", "gateway")
REFUSED_KEYS = ("no key", "revoked key", "disabled user")


@dataclass
class Live:
    client: httpx.AsyncClient
    document: dict[str, Any]
    credentials: dict[str, dict[str, str]]
    data_dir: Path


async def issue_key(client: httpx.AsyncClient, admin: dict[str, str], username: str, role: Role) -> tuple[str, str]:
    """(key id, header value) of a new key for a new user with `role`, issued through the API."""
    created = await client.post(
        "/api/v1/keys", json={"name": "matrix", "username": username, "role": role.value}, headers=admin
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], f"ApiKey {username}:{created.json()['key']}"


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    data_dir = tmp_path_factory.mktemp("authz")
    sockets = {name: bound_socket() for name in PROCESSES}
    for sock in sockets.values():
        # Accepted connections inherit it: without it each response waits out the client's delayed ACK (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    urls = {f"{name}_url": f"http://127.0.0.1:{sock.getsockname()[1]}" for name, sock in sockets.items()}
    common: dict[str, Any] = {"data_dir": data_dir, "internal_token": TOKEN, **urls}
    gateway_settings = GatewaySettings(**common, upstream_wait_seconds=30, refresh_interval_seconds=0)
    created = await ensure_admin(gateway_settings)
    assert created is not None
    apps = {
        "transfer": create_transfer(TransferSettings(**common)),
        # Nothing listens there: a request that reached Temporal would fail loudly instead of using someone's.
        "ingest": create_ingest(IngestSettings(**common, temporal_address=dead_url().removeprefix("http://"))),
        "metadata": create_metadata(MetadataSettings(**common)),
        "storage": create_storage(StorageSettings(**common, fixity_audit_interval_seconds=0)),
        "gateway": create_gateway(gateway_settings),
    }
    async with AsyncExitStack() as stack:
        for name in PROCESSES:
            await stack.enter_async_context(serve_http(apps[name], sockets[name]))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=urls["gateway_url"], timeout=60))
        admin = {"Authorization": f"ApiKey admin:{created[1]}"}
        _, reader = await issue_key(client, admin, "rita", Role.reader)
        _, archivist = await issue_key(client, admin, "arne", Role.archivist)
        revoked_id, revoked = await issue_key(client, admin, "rolf", Role.admin)
        assert (await client.delete(f"/api/v1/keys/{revoked_id}", headers=admin)).status_code == 204
        # An administrator, so that the 401 cannot come from the role; disabled through the API, after the key.
        _, disabled = await issue_key(client, admin, "dora", Role.admin)
        assert (await client.get("/api/v1/me", headers={"Authorization": disabled})).status_code == 200
        patched = await client.patch("/api/v1/users/dora", json={"disabled": True}, headers=admin)
        assert patched.status_code == 200, patched.text
        document = (await client.get("/openapi.json")).json()
        credentials = {
            "no key": {},
            "revoked key": {"Authorization": revoked},
            "disabled user": {"Authorization": disabled},
            Role.reader.value: {"Authorization": reader},
            Role.archivist.value: {"Authorization": archivist},
            Role.admin.value: admin,
        }
        yield Live(client, document, credentials, data_dir)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def parameter_value(name: str, schema: dict[str, Any]) -> str:
    """A plausible value no record has, so that allowed calls end in the service's 404 or 422."""
    if schema.get("format") == "uuid" or name.endswith(("_uuid", "_id")):
        return str(uuid.uuid4())
    if schema.get("type") == "integer":
        return "1"
    if name == "path":
        return "data/objects/absent.txt"
    return f"matrix-{uuid.uuid4().hex[:8]}"


def concrete_path(path: str, operation: dict[str, Any]) -> str:
    schemas = {p["name"]: p.get("schema", {}) for p in operation.get("parameters", []) if p.get("in") == "path"}
    return re.sub(r"\{([^}]+)\}", lambda m: parameter_value(m.group(1), schemas.get(m.group(1), {})), path)


def json_body(operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    return {} if "application/json" in content else None


async def test_every_public_operation_declares_its_role(live: Live) -> None:
    found = operations(live.document)
    assert len(found) > 60
    undeclared = [f"{method.upper()} {path}" for method, path, op in found if ROLE_EXTENSION not in op]
    assert undeclared == []
    for _method, _path, operation in found:
        assert operation["description"].endswith(role_sentence(operation))
    roles = {(method, path): op[ROLE_EXTENSION] for method, path, op in found}
    assert roles[("get", "/api/v1/aips/{aip_uuid}/download")] == "reader"
    assert roles[("post", "/api/v1/transfers")] == "archivist"
    assert roles[("post", "/api/v1/locations")] == "admin"
    assert roles[("post", "/api/v1/deletion-requests/{request_uuid}/approve")] == "admin"
    assert roles[("patch", "/api/v1/users/{username}")] == "admin"
    assert roles[("get", "/api/v1/me")] == "reader"
    assert "archivist" in live.document["info"]["description"]


async def test_authorization_matrix(live: Live) -> None:
    wrong: list[str] = []
    checked = 0
    for method, path, operation in operations(live.document):
        needed = required_role(operation)
        target = concrete_path(path, operation)
        for who, headers in live.credentials.items():
            response = await live.client.request(method, target, headers=headers, json=json_body(operation))
            checked += 1
            status = response.status_code
            if who in REFUSED_KEYS:
                expected_ok = status == 401
            elif Role(who).allows(needed):
                expected_ok = status not in (401, 403)
            else:
                expected_ok = status == 403 and f"needs role {needed.value}" in response.json()["detail"]
            if not expected_ok:
                wrong.append(f"{method.upper()} {target} as {who} (needs {needed.value}): {status} {response.text}")
    assert wrong == []
    assert checked == 6 * len(operations(live.document))


LOCATION_PATHS = ("/", "/etc", "../../")


def hostile_locations(data_dir: Path) -> list[str]:
    link = data_dir / "root-link"
    if not link.is_symlink():
        link.symlink_to("/")
    return [*LOCATION_PATHS, str(link)]


async def test_locations_at_system_paths_are_refused_to_non_administrators(live: Live) -> None:
    for path in hostile_locations(live.data_dir):
        for who in (Role.reader.value, Role.archivist.value):
            response = await live.client.post(
                "/api/v1/locations", json={"purpose": "transfer_source", "path": path},
                headers=live.credentials[who],
            )
            assert response.status_code == 403, (path, who, response.text)
        for who in REFUSED_KEYS:
            response = await live.client.post(
                "/api/v1/locations", json={"purpose": "transfer_source", "path": path},
                headers=live.credentials[who],
            )
            assert response.status_code == 401, (path, who, response.text)
    listed = await live.client.get("/api/v1/locations", headers=live.credentials[Role.admin.value])
    assert not {location["path"] for location in listed.json()} & {"/", "/etc"}


async def test_locations_at_system_paths_are_refused_to_administrators(live: Live) -> None:
    """Even an administrator cannot leave the allowed roots: the storage service resolves and refuses (422)."""
    for path in hostile_locations(live.data_dir):
        response = await live.client.post(
            "/api/v1/locations", json={"purpose": "transfer_source", "path": path},
            headers=live.credentials[Role.admin.value],
        )
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "AMBER_STORAGE_ALLOWED_ROOTS" in response.json()["detail"], response.text
    listed = await live.client.get("/api/v1/locations", headers=live.credentials[Role.admin.value])
    assert not {location["path"] for location in listed.json()} & {"/", "/etc", str(live.data_dir / "root-link")}
