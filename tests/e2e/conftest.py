"""The whole stack, started the way a user starts it (`amber up`) in a temporary data directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
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


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("amber-data")
    env = dict(os.environ)
    env.update({
        "AMBER_DATA_DIR": str(data_dir),
        "AMBER_GATEWAY_PORT": str(free_port()),
        "AMBER_TRANSFER_PORT": str(free_port()),
        "AMBER_INGEST_PORT": str(free_port()),
        "AMBER_METADATA_PORT": str(free_port()),
        "AMBER_STORAGE_PORT": str(free_port()),
        "AMBER_TEMPORAL_PORT": str(free_port()),
        # Small batches and a short heartbeat so the crash test sees many activities and a quick take-over.
        "AMBER_INGEST_BATCH_SIZE": "100",
        "AMBER_INGEST_HEARTBEAT_TIMEOUT_SECONDS": "5",
    })
    for key in ("AMBER_URL", "AMBER_API_KEY", "AMBER_USER"):
        env.pop(key, None)
    up = subprocess.run([sys.executable, "-m", "amber_cli", "up"], env=env, capture_output=True, text=True,
                        timeout=300)
    logs = data_dir / "logs"
    assert up.returncode == 0, up.stdout + up.stderr + "".join(
        f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in logs.glob("*.log")
    )
    creds = json.loads((data_dir / "credentials.json").read_text())
    stack = Stack(data_dir, env, f"http://127.0.0.1:{env['AMBER_GATEWAY_PORT']}",
                  f"ApiKey {creds['username']}:{creds['key']}")
    try:
        yield stack
    finally:
        subprocess.run([sys.executable, "-m", "amber_cli", "down"], env=env, capture_output=True, timeout=120)


def make_tree(root: Path, count: int, *, payload: int = 64) -> dict[str, bytes]:
    """`count` small files in nested folders; returns their relative paths and contents."""
    files: dict[str, bytes] = {}
    for index in range(count):
        relative = f"series-{index % 7}/box-{index % 13:02d}/item-{index:05d}.txt"
        content = (f"item {index}\n".encode() * (payload // 8 + 1))[: payload + index % 50]
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        files[relative] = content
    return files
