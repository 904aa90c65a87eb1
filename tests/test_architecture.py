"""The shape rules: services talk over HTTP only, so no service imports another service's code."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("transfer", "ingest", "metadata", "storage")


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_service_imports_another_service() -> None:
    offences = []
    for service in SERVICES:
        for path in (ROOT / "services" / service).rglob("*.py"):
            for module in imported_modules(path):
                for other in SERVICES:
                    if other != service and (module == f"services.{other}" or module.startswith(f"services.{other}.")):
                        offences.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offences == []


def test_shared_packages_import_no_service() -> None:
    offences = []
    for package in ("servicekit", "clients", "gateway"):
        for path in (ROOT / package).rglob("*.py"):
            offences += [f"{path.relative_to(ROOT)} imports {m}" for m in imported_modules(path)
                         if m.startswith("services")]
    assert offences == []
