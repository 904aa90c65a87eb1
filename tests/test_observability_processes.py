"""Metrics across processes (prometheus_client's multiprocess mode) and traces exported over OTLP, each in
processes of their own: both are chosen from the environment when a process starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from amber_cli.otlp_sink import OtlpSink
from servicekit.app import create_service_app
from servicekit.http import ServiceClient
from servicekit.settings import ServiceSettings
from servicekit.tracing import TracingMiddleware, tracing_enabled

# A service built on servicekit, asked `count` times for its health and once for `path`, whose answer is printed.
PROBE = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    import httpx
    from opentelemetry import trace
    from servicekit.app import create_service_app
    from servicekit.settings import ServiceSettings

    async def main(data_dir: str, count: str, path: str) -> None:
        settings = ServiceSettings(service_name="probe", data_dir=Path(data_dir))
        app = create_service_app(settings=settings, title="probe", description="", version="1", routers=[],
                                 migrations_dir=None)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
                for _ in range(int(count)):
                    assert (await client.get("/healthz")).status_code == 200
                traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                answer = await client.get(path, headers={"traceparent": traceparent})
                print(answer.text)
        shutdown = getattr(trace.get_tracer_provider(), "shutdown", None)
        if shutdown:
            shutdown()  # exports what is left

    asyncio.run(main(*sys.argv[1:]))
""")


def probe(data_dir: Path, count: int, path: str, env: dict[str, str]) -> subprocess.Popen[str]:
    for key in ("AMBER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "PROMETHEUS_MULTIPROC_DIR",
                "AMBER_METRICS_TOKEN", "AMBER_INTERNAL_TOKEN"):
        env.setdefault(key, "")
    environment = {k: v for k, v in {**os.environ, **env}.items() if v}
    return subprocess.Popen([sys.executable, "-c", PROBE, str(data_dir), str(count), path], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path.cwd())


def finished(process: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return out, err


def test_processes_of_one_service_answer_for_each_other(tmp_path: Path) -> None:
    shared = tmp_path / "multiprocess"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    finished(probe(tmp_path, 3, "/healthz", env))
    scrape, _ = finished(probe(tmp_path, 2, "/metrics", env))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(scrape) for s in family.samples}
    health = (("method", "GET"), ("operation", "healthz"), ("status", "200"))
    # The first process's four health checks (it has ended) and the scraping process's two: none lost or doubled.
    assert samples[("amber_http_requests_total", health)] == 4 + 2
    assert samples[("amber_http_request_duration_seconds_count", health)] == 6


def test_traces_are_exported_over_otlp_with_the_callers_trace_and_logged(tmp_path: Path) -> None:
    with OtlpSink(keep=True) as sink:
        _, logs = finished(probe(tmp_path, 1, "/metrics", {"AMBER_OTLP_ENDPOINT": sink.endpoint}))
    assert ("amber-probe", "GET /metrics") in sink.received.names
    assert ("amber-probe", "GET /healthz") not in sink.received.names  # health checks are not traced
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    [scrape] = [line for line in lines if line["msg"].startswith("GET /metrics")]
    assert scrape["trace_id"] == "0af7651916cd43dd8448eb211c80319c" and scrape["request_id"]


async def test_without_an_endpoint_nothing_is_traced(tmp_path: Path) -> None:
    assert not tracing_enabled()
    app = create_service_app(settings=ServiceSettings(data_dir=tmp_path), title="t", description="", version="1",
                             routers=[], migrations_dir=None)
    assert TracingMiddleware not in [middleware.cls for middleware in app.user_middleware]
    async with ServiceClient("http://127.0.0.1:9") as client:
        assert "traceparent" not in client._headers(None)
