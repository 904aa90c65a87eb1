"""Key management as the CLI uses it (no HTTP), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.keys.admin import create_key, ensure_admin, list_keys, revoke_key
from gateway.main import create_app
from gateway.settings import GatewaySettings
from servicekit.problems import Problem
from tests.conftest import asgi_client


async def test_ensure_admin_creates_the_first_user_once(db_engine: AsyncEngine, tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path)
    created = await ensure_admin(settings, engine=db_engine)
    assert created is not None
    username, key = created
    assert username == "admin" and len(key) >= 40
    assert await ensure_admin(settings, engine=db_engine) is None
    keys = await list_keys(settings, engine=db_engine)
    assert [(k.username, k.prefix) for k in keys] == [("admin", key[:8])]


async def test_create_list_revoke(db_engine: AsyncEngine, tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path)
    bob_key = await create_key(settings, "bob", "bob's script", engine=db_engine)
    second = await create_key(settings, "bob", "another", engine=db_engine)
    keys = await list_keys(settings, engine=db_engine)
    assert [(k.username, k.name) for k in keys] == [("bob", "bob's script"), ("bob", "another")]
    assert all(k.revoked_at is None and k.last_used_at is None for k in keys)
    # By prefix, then by id; unknown ones are reported as such.
    assert await revoke_key(settings, bob_key[:8], engine=db_engine) is True
    assert await revoke_key(settings, str(keys[1].id), engine=db_engine) is True
    assert await revoke_key(settings, "nokey000", engine=db_engine) is False
    assert await revoke_key(settings, "00000000-0000-0000-0000-000000000000", engine=db_engine) is False
    keys = await list_keys(settings, engine=db_engine)
    assert all(k.revoked_at is not None for k in keys)
    # Users created by create_key are not administrators, and a later ensure_admin leaves them be.
    assert await ensure_admin(settings, engine=db_engine) is None

    app = create_app(GatewaySettings(data_dir=tmp_path, upstream_wait_seconds=0), engine=db_engine)
    async with asgi_client(app) as client:
        refused = await client.get("/api/v1/me", headers={"Authorization": f"ApiKey bob:{second}"})
        assert refused.status_code == 401


async def test_ambiguous_prefix_is_refused(db_engine: AsyncEngine, tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path)
    first = await create_key(settings, "carol", "one", engine=db_engine)
    await create_key(settings, "carol", "two", engine=db_engine)
    # Two keys on one prefix: random keys make it vanishingly unlikely, not impossible.
    async with db_engine.begin() as conn:
        await conn.execute(text("UPDATE api_keys SET prefix = :p"), {"p": first[:8]})
    with pytest.raises(Problem) as raised:
        await revoke_key(settings, first[:8], engine=db_engine)
    assert raised.value.status == 409
    assert all(k.revoked_at is None for k in await list_keys(settings, engine=db_engine))


async def test_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path)
    created = await ensure_admin(settings)
    assert created is not None
    assert (tmp_path / "gateway.sqlite").exists()
    assert [k.username for k in await list_keys(settings)] == ["admin"]


def test_settings_read_the_gateway_prefix_and_the_stack_wide_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMBER_GATEWAY_DATABASE_URL", "postgresql+asyncpg://u@db/amber_gateway")
    monkeypatch.setenv("AMBER_GATEWAY_PORT", "9000")
    monkeypatch.setenv("AMBER_STORAGE_URL", "http://storage:8004/")
    monkeypatch.setenv("AMBER_INTERNAL_TOKEN", "t0ken")
    settings = GatewaySettings()
    assert settings.service_name == "gateway"
    assert settings.effective_database_url == "postgresql+asyncpg://u@db/amber_gateway"
    assert settings.port == 9000
    assert settings.service_urls()["storage"] == "http://storage:8004"
    assert settings.resolved_internal_token() == "t0ken"


def test_users_from_the_cli(tmp_path: Path) -> None:
    """`amber users …` and `amber keys create --role`, against the gateway database as the CLI reaches it."""
    from typer.testing import CliRunner

    from amber_cli.main import app as cli

    runner = CliRunner()

    def amber(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, [*args, "--data-dir", str(tmp_path)])
        return result.exit_code, result.output

    assert amber("users", "create", "rita") == (0, "rita: reader, enabled\n")
    assert amber("users", "create", "rita")[0] == 1
    assert amber("users", "create", "ada", "--role", "admin") == (0, "ada: admin, enabled\n")
    assert amber("users", "create", "x", "--role", "owner")[0] == 2
    code, output = amber("keys", "create", "--user", "arne", "--role", "archivist")
    assert code == 0 and "API key for arne" in output
    assert amber("keys", "create", "--user", "arne", "--role", "admin")[0] == 1
    assert amber("users", "set-role", "rita", "archivist") == (0, "rita: archivist, enabled\n")
    code, output = amber("users", "disable", "rita")
    assert code == 0 and output.startswith("rita: archivist, disabled ") and " by cli:" in output
    assert amber("users", "enable", "rita") == (0, "rita: archivist, enabled\n")
    # ada is the only administrator: the CLI keeps the rule the API keeps.
    assert amber("users", "disable", "ada")[0] == 1
    assert amber("users", "set-role", "nobody", "reader")[0] == 1
    code, output = amber("users", "list")
    assert code == 0 and all(name in output for name in ("rita", "ada", "arne"))
