"""compose.yaml is a valid Compose file whose Amber containers run commands the code really has.

The schema is the Compose Specification schema vendored from docker-compose 1.29.2
(compose/config/compose_spec.json in its wheel on PyPI), unchanged, as tests/data/compose-spec.json.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("transfer", "ingest", "metadata", "storage")
SERVABLE = {*SERVICES, "gateway"}
PORTS = {"gateway": 8000, "transfer": 8001, "ingest": 8002, "metadata": 8003, "storage": 8004}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(document, dict)
    return document


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def _amber_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if _command(svc)[:1] == ["amber"]}


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    assert schema["title"] == "Compose Specification" and schema["id"] == "compose_spec.json"
    # The schema names draft 2019-09 by its old http URL, which jsonschema does not look up by itself.
    assert "2019-09" in schema["$schema"]
    validator = jsonschema.Draft201909Validator(schema)
    jsonschema.Draft201909Validator.check_schema(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    # The schema does reject mistakes (so the check above is not vacuous).
    broken = copy.deepcopy(compose)
    broken["services"]["worker"]["deploy"]["replicas"] = "two"
    broken["services"]["gateway"]["comand"] = ["amber"]
    assert len(list(validator.iter_errors(broken))) == 2


def test_the_stack_is_complete(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {*SERVABLE, "worker", "temporal", "postgres"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] >= 1
    assert services["temporal"]["image"].startswith(("temporalio/auto-setup", "temporalio/server"))
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["postgres"]["volumes"])
    assert (ROOT / "Dockerfile").is_file()


def test_amber_commands_name_real_services(compose: dict[str, Any]) -> None:
    amber = _amber_services(compose)
    commands = {name: _command(svc) for name, svc in amber.items()}
    assert commands["worker"][:2] == ["amber", "worker"]
    for name, command in commands.items():
        if command[1] == "worker":
            continue
        assert command[1] == "serve" and command[2] in SERVABLE, f"{name}: {command}"
        module = ROOT / ("gateway" if command[2] == "gateway" else f"services/{command[2]}") / "main.py"
        assert module.is_file(), f"{name} runs `amber serve {command[2]}` but {module} does not exist"
        assert re.search(r"^def create_app\(", module.read_text(), re.MULTILINE), f"{module} has no create_app"
    assert {command[2] for command in commands.values() if command[1] == "serve"} == SERVABLE


def test_amber_containers_agree_on_data_peers_and_databases(compose: dict[str, Any]) -> None:
    amber = _amber_services(compose)
    images = {svc["image"] for svc in amber.values()}
    assert len(images) == 1, "every Amber container runs the one image"
    for name, svc in amber.items():
        env = svc["environment"]
        assert env["AMBER_DATA_DIR"] == "/data"
        assert any(volume.endswith(":/data") for volume in svc["volumes"]), name
        assert env["AMBER_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert re.fullmatch(r"\$\{AMBER_INTERNAL_TOKEN(:?[?-][^}]*)?\}", env["AMBER_INTERNAL_TOKEN"]), (
            "the internal token comes from the environment, never from the file"
        )
        for component, port in PORTS.items():
            prefix = f"AMBER_{component.upper()}"
            assert env[f"{prefix}_URL"] == f"http://{component}:{port}"
            assert str(env[f"{prefix}_PORT"]) == str(port)
            assert env[f"{prefix}_HOST"] == "0.0.0.0"
            database = env[f"{prefix}_DATABASE_URL"]
            assert database.startswith("postgresql+asyncpg://")
            assert database.endswith(f"@postgres:5432/amber_{component}")
    # Each service's database is created by the init job.
    init = " ".join(_command(compose["services"]["postgres-init"]))
    for component in PORTS:
        assert f"amber_{component}" in init
