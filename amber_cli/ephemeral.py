"""A throw-away stack on free ports in its own data directory, for tests and benchmarks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PORTS = ("GATEWAY", "TRANSFER", "INGEST", "METADATA", "STORAGE", "TEMPORAL", "WORKER_METRICS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EphemeralStack:
    data_dir: Path
    env: dict[str, str]
    gateway: str
    auth: str

    def amber(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "amber_cli", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=check)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway, headers={"Authorization": self.auth}, timeout=120)

    def pid(self, name: str) -> int:
        return int((self.data_dir / "run" / f"{name}.pid").read_text())

    def pids(self) -> dict[str, int]:
        return {p.stem: int(p.read_text()) for p in (self.data_dir / "run").glob("*.pid")}


@contextmanager
def ephemeral_stack(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[EphemeralStack]:
    """`amber up` in `data_dir` on free ports; `amber down` on exit. Start-up failures show the logs."""
    env = dict(os.environ)
    for key in ("AMBER_URL", "AMBER_API_KEY", "AMBER_USER", "AMBER_TEMPORAL_ADDRESS"):
        env.pop(key, None)
    env["AMBER_DATA_DIR"] = str(data_dir)
    env.update({f"AMBER_{name}_PORT": str(free_port()) for name in PORTS})
    env.update(extra_env or {})
    up = subprocess.run([sys.executable, "-m", "amber_cli", "up"], env=env, capture_output=True, text=True,
                        timeout=300)
    try:
        if up.returncode != 0:
            logs = "".join(f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in (data_dir / "logs").glob("*.log"))
            raise RuntimeError(f"amber up failed:\n{up.stdout}\n{up.stderr}{logs}")
        creds = json.loads((data_dir / "credentials.json").read_text())
        yield EphemeralStack(data_dir, env, f"http://127.0.0.1:{env['AMBER_GATEWAY_PORT']}",
                             f"ApiKey {creds['username']}:{creds['key']}")
    finally:
        subprocess.run([sys.executable, "-m", "amber_cli", "down"], env=env, capture_output=True, timeout=120)
