"""Settings of the gateway (env prefix `AMBER_GATEWAY_`; stack-wide values such as the peer URLs are un-prefixed)."""

from __future__ import annotations

import uuid

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

API_PREFIX = "/api/v1"


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AMBER_GATEWAY_", extra="ignore", populate_by_name=True)

    service_name: str = "gateway"
    port: int = 8000
    upstream_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long start-up keeps retrying services whose OpenAPI document cannot be fetched yet; "
        "the gateway then starts without them and picks them up on first use.",
    )
    refresh_interval_seconds: float = Field(
        default=5.0,
        ge=0,
        description="Least time between two re-fetches of the services' documents triggered by unknown paths.",
    )
    openapi_fetch_timeout_seconds: float = Field(default=10.0, gt=0)
    health_timeout_seconds: float = Field(default=3.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    max_upstream_connections: int = Field(default=200, ge=1)
    archivematica_pipeline_uuid: uuid.UUID | None = Field(
        default=None,
        description="The pipeline UUID the Archivematica-compatible API shows for this stack; derived from the "
        "data directory when unset (stable across restarts).",
    )

    dashboard_api_url: str | None = Field(
        default=None,
        description="Where the dashboard reaches the public API as the signed-in user; the gateway's own address "
        "(loopback when it listens on every interface) when unset.",
    )
    dashboard_session_hours: float = Field(default=12.0, gt=0, description="How long a dashboard sign-in lasts.")
    dashboard_secure_cookie: bool | None = Field(
        default=None,
        description="Mark the session cookie Secure: when unset, whenever the request came over HTTPS; set it "
        "true behind a TLS-terminating proxy that forwards plain HTTP (browsers refuse Secure cookies over HTTP).",
    )

    def dashboard_api_base(self) -> str:
        if self.dashboard_api_url:
            return self.dashboard_api_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    events_collect: bool = Field(
        default=True, description="Collect the services' domain events into the event log (stream and webhooks)."
    )
    events_pull_wait_seconds: float = Field(
        default=20.0, ge=0, le=30, description="How long one pull of a service's outbox waits for a new event."
    )
    events_heartbeat_seconds: float = Field(default=15.0, gt=0, description="SSE comment sent when idle.")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="One delivery attempt's time limit.")
    webhook_retry_seconds: float = Field(
        default=24 * 3600.0, gt=0, description="How long a delivery is retried before it is given up (failed)."
    )
    webhook_initial_backoff_seconds: float = Field(default=5.0, gt=0, description="Wait after a first failure.")
    webhook_max_backoff_seconds: float = Field(default=3600.0, gt=0, description="Longest wait between attempts.")
    webhook_disable_after_seconds: float = Field(
        default=3 * 24 * 3600.0, gt=0,
        description="An endpoint failing without a single success for this long is disabled, with the reason.",
    )
    webhook_secret_grace_seconds: float = Field(
        default=24 * 3600.0, ge=0, description="After a rotation, how long the old secret signs deliveries too."
    )
    webhook_concurrency: int = Field(default=8, ge=1, description="Deliveries in flight at once.")
    events_keep_days: float = Field(
        default=90.0, ge=0,
        description="How long the event log keeps an event after collecting it (0: for ever). An event a webhook "
        "delivery still refers to (pending, or kept in the delivery log) is kept as long as that delivery.",
    )
    webhook_deliveries_keep_days: float = Field(
        default=30.0, ge=0,
        description="How long a succeeded or failed delivery stays in its endpoint's log after its last attempt "
        "(0: for ever). Pending deliveries are never purged.",
    )
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often the gateway purges what the retention settings let go."
    )
    retention_batch: int = Field(
        default=1000, ge=1, le=10000, description="Rows deleted per transaction by the purge (it never holds one "
        "long transaction over the whole log)."
    )

    def event_sources(self) -> dict[str, str]:
        """The services that own domain events, each with its outbox (metadata records none)."""
        return {name: url for name, url in self.service_urls().items() if name != "metadata"}

    def service_urls(self) -> dict[str, str]:
        """The services behind the gateway, in the order their operations appear in the merged document."""
        return {
            "transfer": self.transfer_url.rstrip("/"),
            "ingest": self.ingest_url.rstrip("/"),
            "metadata": self.metadata_url.rstrip("/"),
            "storage": self.storage_url.rstrip("/"),
        }
