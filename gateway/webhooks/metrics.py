"""The gateway's webhook figures: attempts by outcome and their latency. Labels are outcomes, never endpoints."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from servicekit.metrics import Metrics

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WebhookMetrics:
    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.attempts = Counter("amber_webhook_deliveries", "Webhook delivery attempts, by outcome.",
                                ["outcome"], registry=registry)
        self.latency = Histogram("amber_webhook_delivery_duration_seconds",
                                 "Time one webhook delivery attempt took (to the response or the error).",
                                 buckets=LATENCY_BUCKETS, registry=registry)

    def attempted(self, ok: bool, code: int | None, seconds: float) -> None:
        # The class of the answer, so the label set stays small: 2xx, 4xx, 5xx, or error (no answer).
        outcome = "error" if code is None else f"{code // 100}xx"
        self.attempts.labels("delivered" if ok else outcome).inc()
        self.latency.observe(seconds)
