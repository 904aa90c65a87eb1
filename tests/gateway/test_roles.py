"""Roles: the matcher that gives each (method, path) its role, the merged document, users and their keys, and the
gateway refusing callers below an operation's role before anything reaches the service."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.migrations import MIGRATIONS_DIR
from gateway.openapi.merge import merge_documents
from gateway.proxy.registry import Operations
from gateway.schemas import UserUpdate
from gateway.users import service as users
from servicekit import migrations
from servicekit.db import session_factory
from servicekit.openapi import internal_operation
from servicekit.problems import Problem
from servicekit.roles import ROLE_EXTENSION, Role, role_operation
from tests.conftest import database_engine
from tests.gateway.harness import Stack, gateway_stack
from tests.gateway.test_auth_and_keys import assert_problem

READER, ARCHIVIST, ADMIN = (role_operation(role) for role in Role)

DOCS: dict[str, dict[str, Any]] = {
    "things": {"paths": {
        "/things": {"get": READER, "post": ARCHIVIST},
        "/things/{thing_id}": {"get": READER, "delete": ADMIN, "patch": internal_operation()},
        "/things/{thing_id}/files/{path}": {"get": READER},
        "/things/{thing_id}/summary": {"get": ARCHIVIST},
        "/things/special": {"get": ADMIN},
        "/unmarked": {"get": {}},
    }},
}


def test_each_method_and_path_gets_the_role_its_operation_declares() -> None:
    operations = Operations(DOCS)
    assert operations.required_role("GET", "/things") is Role.reader
    assert operations.required_role("POST", "/things") is Role.archivist
    assert operations.required_role("HEAD", "/things") is Role.reader
    assert operations.required_role("GET", "/things/") is Role.reader
    assert operations.required_role("GET", "/things/7") is Role.reader
    assert operations.required_role("DELETE", "/things/7") is Role.admin
    # A trailing parameter may be a Starlette path (OpenAPI does not say), so deeper paths match it too.
    assert operations.required_role("GET", "/things/7/files/data/objects/a.txt") is Role.reader


def test_the_most_demanding_match_wins_and_unknown_operations_need_admin() -> None:
    operations = Operations(DOCS)
    # /things/special is also /things/{thing_id}: which one the service picks depends on its route order.
    assert operations.required_role("GET", "/things/special") is Role.admin
    assert operations.required_role("GET", "/things/7/summary") is Role.archivist
    assert operations.required_role("GET", "/things/7%2Fsummary") is Role.archivist
    assert operations.required_role("GET", "//things//7/summary") is Role.archivist
    assert operations.required_role("PUT", "/things") is Role.admin
    assert operations.required_role("GET", "/unmarked") is Role.admin
    assert operations.required_role("GET", "/nowhere") is Role.admin
    assert operations.required_role("OPTIONS", "/things") is Role.admin
    # Internal operations are hidden, not given a role.
    assert operations.hides("PATCH", "/things/7")
    assert operations.required_role("PATCH", "/things/7") is Role.admin


def test_the_merged_document_shows_each_operations_role() -> None:
    gateway = {"paths": {"/api/v1/me": {"get": {"operationId": "me", **READER}}}}
    services = {"things": {"paths": {
        "/things": {"get": {"operationId": "list_things", "description": "Lists things.", **ARCHIVIST}},
        "/unmarked": {"get": {"operationId": "unmarked"}},
    }}}
    merged = merge_documents(gateway, services)
    listing = merged["paths"]["/api/v1/things"]["get"]
    assert listing[ROLE_EXTENSION] == "archivist"
    assert listing["description"] == "Lists things.\n\nRequires role: archivist."
    assert merged["paths"]["/api/v1/me"]["get"]["description"] == "Requires role: reader."
    # Undeclared stays undeclared (the matrix test catches it) while the description tells the truth.
    unmarked = merged["paths"]["/api/v1/unmarked"]["get"]
    assert ROLE_EXTENSION not in unmarked and unmarked["description"] == "Requires role: admin."
    # Merging twice (each refresh) does not repeat the sentence.
    assert merge_documents(gateway, services)["paths"]["/api/v1/things"]["get"]["description"] == (
        listing["description"]
    )


async def new_key(stack: Stack, username: str, role: Role | None = None) -> dict[str, str]:
    body = {"name": "test", "username": username, **({"role": role.value} if role else {})}
    created = await stack.client.post("/api/v1/keys", json=body, headers=stack.admin)
    assert created.status_code == 201, created.text
    return {"Authorization": f"ApiKey {username}:{created.json()['key']}"}


async def test_users_are_created_listed_changed_and_disabled(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with gateway_stack(tmp_path, db_engine) as stack:
        client = stack.client
        created = await client.post("/api/v1/users", json={"username": "rita"}, headers=stack.admin)
        assert created.status_code == 201, created.text
        assert created.json()["role"] == "reader" and created.json()["disabled_at"] is None
        assert_problem(await client.post("/api/v1/users", json={"username": "rita"}, headers=stack.admin), 409)
        assert_problem(
            await client.post("/api/v1/users", json={"username": "x", "role": "owner"}, headers=stack.admin), 422
        )
        listing = await client.get("/api/v1/users", params={"limit": 1, "offset": 1}, headers=stack.admin)
        assert listing.json()["total"] == 2 and [u["username"] for u in listing.json()["items"]] == ["rita"]
        assert (await client.get("/api/v1/users/rita", headers=stack.admin)).json()["role"] == "reader"
        assert_problem(await client.get("/api/v1/users/nobody", headers=stack.admin), 404)
        assert_problem(await client.patch("/api/v1/users/nobody", json={}, headers=stack.admin), 404)

        rita = await new_key(stack, "rita")
        me = await client.get("/api/v1/me", headers=rita)
        assert me.json()["username"] == "rita" and me.json()["role"] == "reader"
        refused = await client.get("/api/v1/users", headers=rita)
        assert_problem(refused, 403)
        assert refused.json()["detail"] == "GET /api/v1/users needs role admin; rita has role reader"
        assert_problem(await client.patch("/api/v1/users/rita", json={"role": "admin"}, headers=rita), 403)
        assert_problem(await client.post("/api/v1/keys", json={"name": "mine"}, headers=rita), 403)

        promoted = await client.patch("/api/v1/users/rita", json={"role": "archivist"}, headers=stack.admin)
        assert promoted.json()["role"] == "archivist"
        assert (await client.get("/api/v1/me", headers=rita)).json()["role"] == "archivist"

        disabled = await client.patch("/api/v1/users/rita", json={"disabled": True}, headers=stack.admin)
        assert disabled.json()["disabled_by"] == "admin" and disabled.json()["disabled_at"] is not None
        # At once, for the gateway's own operations and the proxied ones alike.
        assert_problem(await client.get("/api/v1/me", headers=rita), 401)
        assert_problem(await client.get("/api/v1/widgets", headers=rita), 401)
        assert_problem(await client.post("/api/v1/keys", json={"name": "n", "username": "rita"},
                                       headers=stack.admin), 409)
        enabled = await client.patch("/api/v1/users/rita", json={"disabled": False}, headers=stack.admin)
        assert enabled.json()["disabled_at"] is None and enabled.json()["disabled_by"] is None
        assert (await client.get("/api/v1/me", headers=rita)).status_code == 200


async def test_keys_create_their_user_with_a_role(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with gateway_stack(tmp_path, db_engine) as stack:
        arne = await new_key(stack, "arne", Role.archivist)
        assert (await stack.client.get("/api/v1/me", headers=arne)).json()["role"] == "archivist"
        # A second key with the same role, or none, is fine; another role is not changed through a key.
        await new_key(stack, "arne", Role.archivist)
        await new_key(stack, "arne")
        mismatch = await stack.client.post(
            "/api/v1/keys", json={"name": "x", "username": "arne", "role": "admin"}, headers=stack.admin
        )
        assert_problem(mismatch, 409)
        assert "archivist" in mismatch.json()["detail"]


async def test_the_last_enabled_administrator_stays_one(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with gateway_stack(tmp_path, db_engine) as stack:
        client = stack.client
        for change in ({"role": "archivist"}, {"disabled": True}, {"role": "reader", "disabled": True}):
            assert_problem(await client.patch("/api/v1/users/admin", json=change, headers=stack.admin), 409)
        # A disabled administrator does not count.
        await client.post("/api/v1/users", json={"username": "ada", "role": "admin"}, headers=stack.admin)
        await client.patch("/api/v1/users/ada", json={"disabled": True}, headers=stack.admin)
        assert_problem(await client.patch("/api/v1/users/admin", json={"role": "reader"}, headers=stack.admin), 409)
        await client.patch("/api/v1/users/ada", json={"disabled": False}, headers=stack.admin)
        demoted = await client.patch("/api/v1/users/admin", json={"role": "archivist"}, headers=stack.admin)
        assert demoted.status_code == 200 and demoted.json()["role"] == "archivist"
        assert_problem(await client.get("/api/v1/users", headers=stack.admin), 403)


async def test_proxied_operations_are_refused_below_their_role(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:
        client = stack.client
        reader = await new_key(stack, "rita")
        archivist = await new_key(stack, "arne", Role.archivist)
        assert (await client.get("/api/v1/widgets", headers=reader)).status_code == 200
        assert (await client.get("/api/v1/widgets/7", headers=reader)).status_code == 404
        refused = await client.post("/api/v1/widgets", json={"id": 2, "name": "two"}, headers=reader)
        assert_problem(refused, 403)
        assert refused.json()["detail"] == "POST /api/v1/widgets needs role archivist; rita has role reader"
        assert (await client.post("/api/v1/widgets", json={"id": 2, "name": "two"}, headers=archivist)).status_code \
            == 201
        # An operation no document has needs admin: only administrators see the service's 405.
        assert_problem(await client.put("/api/v1/widgets", json={}, headers=archivist), 403)
        assert (await client.put("/api/v1/widgets", json={}, headers=stack.admin)).status_code == 405
        # Internal operations stay absent for everyone.
        assert_problem(await client.patch("/api/v1/widgets/1", json={}, headers=archivist), 404)


async def test_a_refused_upload_is_answered_before_its_body(tmp_path: Path) -> None:
    """A reader's upload announces 1 GiB and sends none of it: the 403 comes anyway, so no byte was waited for."""
    async with gateway_stack(tmp_path, real_http=True) as stack:
        reader = await new_key(stack, "rita")
        url = httpx.URL(str(stack.client.base_url))
        assert url.host is not None and url.port is not None
        reader_stream, writer = await asyncio.open_connection(url.host, url.port)
        try:
            writer.write(
                b"POST /api/v1/uploads HTTP/1.1\r\nHost: gateway\r\nContent-Length: 1073741824\r\n"
                + f"Authorization: {reader['Authorization']}\r\n\r\n".encode()
            )
            await writer.drain()
            status_line = await asyncio.wait_for(reader_stream.readline(), timeout=10)
        finally:
            writer.close()
        assert status_line.startswith(b"HTTP/1.1 403"), status_line


async def test_callers_cannot_claim_a_user_or_role(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:
        reader = await new_key(stack, "rita")
        echo = await stack.client.get(
            "/api/v1/echo/x", headers={**reader, "X-Amber-User": "admin", "X-Amber-Role": "admin"}
        )
        assert echo.status_code == 200, echo.text
        headers = echo.json()["headers"]
        assert [value for key, value in headers if key == "x-amber-user"] == ["rita"]
        assert [value for key, value in headers if key == "x-amber-role"] == ["reader"]


async def test_migration_maps_administrators_to_admin_and_other_users_to_archivist(
    db_engine: AsyncEngine, tmp_path: Path
) -> None:
    def upgrade_to(connection: Connection, revision: str) -> None:
        config = migrations.alembic_config(MIGRATIONS_DIR, db_engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with db_engine.begin() as conn:
        await conn.run_sync(upgrade_to, "0001")
        users = sa.table(
            "users", sa.column("id", sa.Uuid()), sa.column("username", sa.String()),
            sa.column("is_admin", sa.Boolean()), sa.column("created_at", sa.DateTime(timezone=True)),
        )
        await conn.execute(users.insert(), [
            {"id": uuid.uuid4(), "username": username, "is_admin": is_admin, "created_at": datetime.now(UTC)}
            for username, is_admin in (("root", True), ("alice", False))
        ])
    await migrations.upgrade(db_engine, MIGRATIONS_DIR)
    async with db_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT username, role, disabled_at FROM users ORDER BY username"))).all()
    assert [tuple(row) for row in rows] == [("alice", "archivist", None), ("root", "admin", None)]


@pytest.mark.postgres
async def test_two_administrators_demoting_each_other_at_once_leave_one(tmp_path: Path) -> None:
    """The second demotion waits for the first to commit, then counts again (PostgreSQL; SQLite has one writer)."""
    async with database_engine("postgres", tmp_path) as (engine, _url):
        await migrations.upgrade(engine, MIGRATIONS_DIR)
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            for username in ("admin", "ada"):
                await users.create(session, username, Role.admin)
        demote = UserUpdate(role=Role.reader)
        async with sessions() as first, sessions() as second:
            await first.begin()
            await users.update(first, "ada", demote, actor="admin")
            await second.begin()
            racing = asyncio.create_task(users.update(second, "admin", demote, actor="ada"))
            await asyncio.sleep(0.5)  # the second is now waiting for the first's rows, if it locks them
            await first.commit()
            with pytest.raises(Problem) as refused:
                await racing
            assert refused.value.status == 409
            await second.rollback()
        async with sessions() as session:
            assert [user.username for user in (await users.list_page(session, limit=10, offset=0))[0]
                    if user.role is Role.admin] == ["admin"]
