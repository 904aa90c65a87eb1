"""Where the stack's processes listen and where the client finds the gateway and its key."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.settings import default_data_dir

SERVICES = ("transfer", "ingest", "metadata", "storage")


class StackSettings(BaseSettings):
    """The embedded stack `amber up` runs on one machine."""

    model_config = SettingsConfigDict(env_prefix="AMBER_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    gateway_port: int = 8000
    transfer_port: int = 8001
    ingest_port: int = 8002
    metadata_port: int = 8003
    storage_port: int = 8004
    temporal_port: int = 7233
    temporal_address: str | None = Field(
        default=None, description="An external Temporal cluster; when set, `amber up` starts no dev server."
    )
    workers: int = 1
    worker_metrics_port: int = Field(default=8010, description="The first worker's /metrics; the next take the "
                                     "ports after it.")

    def port(self, component: str) -> int:
        return int(getattr(self, f"{component}_port"))

    def url(self, component: str) -> str:
        return f"http://{self.host}:{self.port(component)}"

    @property
    def effective_temporal_address(self) -> str:
        return self.temporal_address or f"{self.host}:{self.temporal_port}"

    def stack_env(self) -> dict[str, str]:
        """The variables by which every process of the stack agrees on paths, ports and peers."""
        env = {
            "AMBER_DATA_DIR": str(self.data_dir),
            "AMBER_TEMPORAL_ADDRESS": self.effective_temporal_address,
        }
        for component in (*SERVICES, "gateway"):
            env[f"AMBER_{component.upper()}_URL"] = self.url(component)
            env[f"AMBER_{component.upper()}_PORT"] = str(self.port(component))
            env[f"AMBER_{component.upper()}_HOST"] = self.host
        return env

    def child_env(self) -> dict[str, str]:
        return {**os.environ, **self.stack_env()}

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials.json"


class ClientSettings(BaseSettings):
    """How the CLI reaches the gateway: `AMBER_URL` and `AMBER_API_KEY`, else the local stack's admin key."""

    model_config = SettingsConfigDict(env_prefix="AMBER_", extra="ignore")

    url: str | None = None
    api_key: str | None = None

    def resolve(self, stack: StackSettings) -> tuple[str, str]:
        """The gateway URL and the API key to present as a bearer token."""
        url = self.url or stack.url("gateway")
        if self.api_key:
            return url, self.api_key
        if stack.credentials_file.exists():
            creds = json.loads(stack.credentials_file.read_text())
            return url, str(creds["key"])
        raise SystemExit(
            f"No API key: set AMBER_API_KEY, or run `amber up` (which writes {stack.credentials_file})."
        )
