"""The format policy registry through the ingest service's real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from clients.ingest.fpr import FormatPolicy
from servicekit.db import unit_of_work
from services.ingest.fpr.service import rule_uuid, shipped_policy, upgrade_shipped
from services.ingest.main import create_app
from services.ingest.settings import IngestSettings
from tests.conftest import asgi_client

HEADERS = {"Authorization": "Bearer secret"}


@asynccontextmanager
async def ingest_app(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # Temporal is reached lazily and never here: the registry needs only the database.
    settings = IngestSettings(data_dir=tmp_path, temporal_address="127.0.0.1:9", internal_token="secret")
    async with asgi_client(create_app(settings, engine=engine)) as client:
        client.headers.update(HEADERS)
        yield client


async def all_rules(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/format-rules", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_shipped_rules_are_loaded_listed_and_filtered(db_engine: AsyncEngine, tmp_path: Path) -> None:
    shipped = shipped_policy()
    async with ingest_app(db_engine, tmp_path) as client:
        rules = await all_rules(client)
        assert len(rules) == len(shipped.rules)
        first = shipped.rules[0]
        expected = rule_uuid(first.purpose, first.puid, first.command)
        assert str(expected) in {r["uuid"] for r in rules}  # the same uuid on every installation
        validation = await all_rules(client, purpose="validation")
        assert validation and all(r["purpose"] == "validation" for r in validation)
        tiff = await all_rules(client, puid="fmt/353")
        assert tiff and all(r["puid"] == "fmt/353" for r in tiff)
        page = (await client.get("/format-rules", params={"limit": 1, "offset": 1})).json()
        assert page["total"] == len(shipped.rules) and len(page["items"]) == 1
        got = await client.get(f"/format-rules/{expected}")
        assert got.json()["shipped_version"] == shipped.version and not got.json()["modified"]
        tiff_format = await client.get("/formats/fmt/353")
        assert tiff_format.status_code == 200 and tiff_format.json()["group"] == "image"
        assert (await client.get("/formats/fmt/999999")).status_code == 404
        assert (await client.get("/formats/nonsense")).status_code == 404
        assert (await client.get("/format-commands", params={"tool": "vips"})).json()["total"] >= 1
        groups = (await client.get("/format-policy/groups")).json()
        assert groups["fmt/353"] == "image" and groups["fmt/569"] == "video"


async def test_rules_commands_and_tools_are_created_edited_disabled_and_counted(
    db_engine: AsyncEngine, tmp_path: Path
) -> None:
    async with ingest_app(db_engine, tmp_path) as client:
        tool = await client.post("/format-tools", json={
            "name": "cat", "description": "concatenates", "version_argv": ["cat", "--version"],
            "version_pattern": r"cat \(GNU coreutils\) (\S+)"})
        assert tool.status_code == 201, tool.text
        assert (await client.post("/format-tools", json={"name": "cat"})).status_code == 409
        bad = await client.post("/format-commands", json={
            "name": "cat-copy", "tool": "cat", "argv": ["cp", "{input}", "{outptu}"]})
        assert bad.status_code == 422 and "{outptu}" in bad.json()["detail"]
        no_tool = await client.post("/format-commands", json={"name": "x", "tool": "nope", "argv": ["x"]})
        assert no_tool.status_code == 422
        command = await client.post("/format-commands", json={
            "name": "cat-copy", "tool": "cat", "argv": ["cp", "{input}", "{output}"], "output_extension": ".jpg",
            "output_puids": ["fmt/43"], "timeout_seconds": 30})
        assert command.status_code == 201, command.text
        await client.post("/formats", json={"puid": "fmt/99001", "name": "Raw JPEG Stream", "group": "image"})
        rule = await client.post("/format-rules", json={"purpose": "access", "puid": "fmt/99001",
                                                        "command": "cat-copy"})
        assert rule.status_code == 201, rule.text
        again = await client.post("/format-rules", json={"purpose": "access", "puid": "fmt/99001",
                                                         "command": "cat-copy"})
        assert again.status_code == 409
        dangling = await client.post("/format-rules", json={"purpose": "access", "puid": "fmt/9999",
                                                            "command": "cat-copy"})
        assert dangling.status_code == 422
        not_a_validator = await client.post("/format-rules", json={"purpose": "validation", "puid": "fmt/99001",
                                                                   "command": "cat-copy"})
        assert not_a_validator.status_code == 422
        rule_id = rule.json()["uuid"]
        resolved = (await client.get("/format-policy/resolved", params={"purpose": "access"})).json()
        mine = next(r for r in resolved if r["uuid"] == rule_id)
        assert mine["command_spec"]["tool_spec"]["name"] == "cat"
        assert mine["format_name"] == "Raw JPEG Stream"

        disabled = await client.patch(f"/format-rules/{rule_id}", json={"enabled": False})
        assert disabled.status_code == 200 and disabled.json()["enabled"] is False
        resolved = (await client.get("/format-policy/resolved", params={"purpose": "access"})).json()
        assert rule_id not in {r["uuid"] for r in resolved}
        assert rule_id in {r["uuid"] for r in await all_rules(client, enabled="false")}

        edited = await client.patch("/format-commands/cat-copy", json={"timeout_seconds": 5})
        assert edited.json()["timeout_seconds"] == 5 and edited.json()["argv"] == ["cp", "{input}", "{output}"]
        outcomes = await client.post("/format-policy/outcomes", json={"outcomes": [
            {"rule": rule_id, "success": True, "tool_version": "9.1"},
            {"rule": rule_id, "success": True},
            {"rule": rule_id, "success": False},
        ]})
        assert outcomes.json() == {"recorded": 3}
        counted = (await client.get(f"/format-rules/{rule_id}")).json()
        assert (counted["successes"], counted["failures"]) == (2, 1) and counted["last_used_at"]
        assert (await client.get("/format-tools/cat")).json()["version"] == "9.1"

        shipped = (await all_rules(client))[0]
        assert (await client.delete(f"/format-rules/{shipped['uuid']}")).status_code == 409
        assert (await client.delete(f"/format-rules/{rule_id}")).status_code == 204
        assert (await client.get(f"/format-rules/{rule_id}")).status_code == 404


async def test_an_upgrade_of_the_shipped_defaults_keeps_a_users_edits(db_engine: AsyncEngine, tmp_path: Path) -> None:
    shipped = shipped_policy()
    async with ingest_app(db_engine, tmp_path) as client:
        edited, untouched = shipped.rules[0], shipped.rules[1]
        edited_id = rule_uuid(edited.purpose, edited.puid, edited.command)
        untouched_id = rule_uuid(untouched.purpose, untouched.puid, untouched.command)
        assert (await client.patch(f"/format-rules/{edited_id}", json={"enabled": False})).json()["modified"]

        newer = shipped.model_copy(deep=True)
        newer.version = shipped.version + 1
        newer.rules[0].enabled = True
        newer.rules[1].enabled = not untouched.enabled
        newer.rules.append(newer.rules[0].model_copy(update={"purpose": "characterization"}))
        async with unit_of_work(client._transport.app.state.sessions) as session:  # type: ignore[attr-defined]
            assert await upgrade_shipped(session, newer) >= 2
            assert await upgrade_shipped(session, newer) == 0  # taken in once
        assert (await client.get(f"/format-rules/{edited_id}")).json()["enabled"] is False  # the user's edit stays
        changed = (await client.get(f"/format-rules/{untouched_id}")).json()
        assert changed["enabled"] is (not untouched.enabled) and changed["shipped_version"] == newer.version
        added = await all_rules(client, purpose="characterization", puid=edited.puid)
        assert [r["command"] for r in added] == [edited.command]


async def test_export_and_import_round_trip_and_report_changes(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with ingest_app(db_engine, tmp_path) as client:
        exported = (await client.get("/format-policy")).json()
        policy = FormatPolicy.model_validate(exported)
        assert policy.rules and policy.commands and policy.tools and policy.formats
        same = await client.post("/format-policy", json=exported)
        assert same.status_code == 200, same.text
        report = same.json()
        assert not any(report["created"].values()) and not any(report["updated"].values())
        assert report["unchanged"] == len(policy.formats) + len(policy.tools) + len(policy.commands) + len(
            policy.rules)

        document = {
            "formats": [{"puid": "fmt/99001", "name": "Raw JPEG Stream", "group": "image"}],
            "tools": [{"name": "copier"}],
            "commands": [{"name": "plain-copy", "tool": "copier", "argv": ["cp", "{input}", "{output}"],
                          "output_extension": ".jpg"}],
            "rules": [{"purpose": "access", "puid": "fmt/99001", "command": "plain-copy"},
                      {**exported["rules"][0], "enabled": not exported["rules"][0]["enabled"]}],
        }
        first = (await client.post("/format-policy", json=document)).json()
        assert first["created"] == {"formats": ["fmt/99001"], "tools": ["copier"], "commands": ["plain-copy"],
                                    "rules": [first["created"]["rules"][0]]}
        assert first["updated"]["rules"] == [exported["rules"][0]["uuid"]]
        second = (await client.post("/format-policy", json=document)).json()
        assert not any(second["created"].values()) and not any(second["updated"].values())
        flipped = (await client.get(f"/format-rules/{exported['rules'][0]['uuid']}")).json()
        assert flipped["modified"] is True

        broken = {"rules": [{"purpose": "access", "puid": "fmt/99001", "command": "nope"},
                            {"purpose": "validation", "puid": "fmt/99001", "command": "plain-copy"}],
                  "commands": [{"name": "orphan", "tool": "ghost", "argv": ["x", "{nope}"], "verifier": "plain-copy"}]}
        refused = await client.post("/format-policy", json=broken)
        assert refused.status_code == 422
        messages = " ".join(e["msg"] for e in refused.json()["errors"])
        assert "ghost" in messages and "{nope}" in messages and "nope does not exist" in messages
        assert "verifier plain-copy is not a validation command" in messages
        assert "command plain-copy has no verdict" in messages
        assert (await client.get("/format-commands/orphan")).status_code == 404  # nothing was imported
