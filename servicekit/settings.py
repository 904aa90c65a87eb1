"""The settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path.home() / ".amber"


class ServiceSettings(BaseSettings):
    """Base for one service's settings.

    Values shared across the whole stack (data directory, peer URLs, the internal token) are read from
    un-prefixed `AMBER_*` variables so a single environment configures every process; the rest take the
    service's own prefix (`AMBER_INGEST_…`).
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "amber"
    data_dir: Path = Field(
        default_factory=default_data_dir, validation_alias=AliasChoices("data_dir", "AMBER_DATA_DIR")
    )
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default is a SQLite file per service under the data directory.",
    )
    internal_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices("internal_token", "AMBER_INTERNAL_TOKEN"),
        description="Shared secret that service-to-service calls and the gateway present.",
    )
    transfer_url: str = Field(
        default="http://127.0.0.1:8001", validation_alias=AliasChoices("transfer_url", "AMBER_TRANSFER_URL")
    )
    ingest_url: str = Field(
        default="http://127.0.0.1:8002", validation_alias=AliasChoices("ingest_url", "AMBER_INGEST_URL")
    )
    metadata_url: str = Field(
        default="http://127.0.0.1:8003", validation_alias=AliasChoices("metadata_url", "AMBER_METADATA_URL")
    )
    storage_url: str = Field(
        default="http://127.0.0.1:8004", validation_alias=AliasChoices("storage_url", "AMBER_STORAGE_URL")
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("log_level", "AMBER_LOG_LEVEL"))
    metrics_enabled: bool = Field(
        default=True,
        validation_alias=AliasChoices("metrics_enabled", "AMBER_METRICS_ENABLED"),
        description="Collect Prometheus metrics and serve /metrics (false: neither, in every process).",
    )
    metrics_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices("metrics_token", "AMBER_METRICS_TOKEN"),
        description="Bearer token a Prometheus scraper presents to /metrics (default: <data dir>/metrics-token, "
        "else the internal token; none configured: /metrics is open).",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("otlp_endpoint", "AMBER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="Base URL of an OTLP/HTTP collector (`/v1/traces` is added); traces are exported only when set.",
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.sqlite')}"

    @property
    def processing_dir(self) -> Path:
        """The "currently processing" folder transfer intake writes and workers read."""
        return self.data_dir / "processing"

    def resolved_internal_token(self) -> str | None:
        return self.internal_token or self._token_file("internal-token")

    def resolved_metrics_token(self) -> str | None:
        """What `/metrics` asks for: the metrics token, else the internal token."""
        return self.metrics_token or self._token_file("metrics-token") or self.resolved_internal_token()

    def _token_file(self, name: str) -> str | None:
        token_file = self.data_dir / name
        if token_file.exists():
            return token_file.read_text().strip() or None
        return None
