"""Metrics and traces of a whole ingest: the gateway, the four services and a worker over real HTTP and Temporal.

One upload through the gateway is one trace, from the gateway's request through the services, the workflow and
each activity to the calls to metadata and storage (an in-memory exporter installed as the process's tracer
provider); every process's `/metrics` parses, and the worker's per-micro-service counters add up to the files.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from amber_cli.ephemeral import free_port
from clients.ingest import IngestRead, IngestStatus
from clients.transfer import TransferClient
from gateway.keys.admin import ensure_admin
from gateway.main import create_app as create_gateway_app
from gateway.settings import GatewaySettings
from servicekit.tracing import SERVICE_ATTRIBUTE, tracer_provider, tracing_enabled
from tests.conftest import serve_http
from tests.ingest.test_workflow import TOKEN, running_services, wait_for

FILES = 50
BATCH = 20
PER_FILE = ("checksum", "virus_scan", "identification", "validation", "characterization")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]




def samples(text: str) -> Samples:
    """Every sample of a scrape, parsed by prometheus_client's own parser."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scraped: Samples, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def label_values(scraped: Samples) -> set[str]:
    return {v for _, labels in scraped for _, v in labels}


def in_trace(spans: Iterable[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


async def test_one_ingest_is_one_trace_and_every_process_counts_it(
    tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracer_provider(provider):
        assert tracing_enabled()
        ingest, transfer_uuid, scraped = await ingest_through_the_gateway(tmp_path, temporal_env, exporter)
    assert not tracing_enabled()  # the apps of other tests are not traced
    activity_kinds = check_worker_metrics(scraped["worker"], ingest)
    check_service_metrics(scraped, ingest)
    # Bounded labels: no package id anywhere, in any process.
    ids = {str(ingest.uuid), str(transfer_uuid)}
    for name, scrape in scraped.items():
        assert not [v for v in label_values(scrape) if any(i in v for i in ids)], name
    check_trace(exporter.get_finished_spans(), activity_kinds)


def letters(folder: Path) -> Path:
    for index in range(FILES):
        path = folder / f"box-{index % 3}" / f"letter-{index:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Dear reader, letter {index}.\n" * (1 + index % 5))
    return folder


async def ingest_through_the_gateway(
    tmp_path: Path, temporal_env: WorkflowEnvironment, exporter: InMemorySpanExporter
) -> tuple[IngestRead, uuid.UUID, dict[str, Samples]]:
    """Upload a folder through the gateway, wait for its AIP, then scrape every process."""
    folder = letters(tmp_path / "letters")
    worker_port = free_port()
    async with running_services(tmp_path / "data", temporal_env, with_transfer=True, batch_size=BATCH,
                                worker_metrics_port=worker_port) as services:
        urls = {name: getattr(services.ingest_settings, f"{name}_url")
                for name in ("transfer", "ingest", "metadata", "storage")}
        gateway_settings = GatewaySettings(data_dir=tmp_path / "data", internal_token=TOKEN, upstream_wait_seconds=5,
                                           **{f"{name}_url": url for name, url in urls.items()})
        admin = await ensure_admin(gateway_settings)
        assert admin is not None
        async with serve_http(create_gateway_app(gateway_settings)) as gateway:
            exporter.clear()
            async with TransferClient(f"{gateway}/api/v1", token=admin[1], timeout=120) as public:
                transfer = await public.upload_transfer("letters", folder)
            assert transfer.ingest_uuid is not None
            ingest = await wait_for(services.ingest, transfer.ingest_uuid, timeout=120)
            assert ingest.status == IngestStatus.stored, ingest.error
            assert ingest.file_count is not None and ingest.file_count >= FILES
            async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {admin[1]}"},
                                         timeout=60) as http:
                fixity = await http.post(f"/api/v1/aips/{ingest.uuid}/fixity")
                assert fixity.status_code == 200 and fixity.json()["success"], fixity.text
            processes = {**urls, "gateway": gateway, "worker": f"http://127.0.0.1:{worker_port}"}
            scraped = await scrape_all(processes, admin[1])
    return ingest, transfer.uuid, scraped


async def scrape_all(processes: dict[str, str], api_key: str) -> dict[str, Samples]:
    """Every process's /metrics with the token (the internal one: no metrics token is set here); and the checks
    that keep them on the internal side."""
    scraped: dict[str, Samples] = {}
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
        for name, url in processes.items():
            response = await http.get(f"{url}/metrics")
            assert response.status_code == 200, (name, response.text)
            scraped[name] = samples(response.text)
            for wrong in ("", "Bearer wrong", f"Bearer {api_key}"):
                assert (await http.get(f"{url}/metrics", headers={"Authorization": wrong})).status_code == 401, name
        gateway = processes["gateway"]
        public = await http.get(f"{gateway}/api/v1/metrics", headers={"Authorization": f"Bearer {api_key}"})
        assert public.status_code == 404
        document = (await http.get(f"{gateway}/openapi.json")).json()
        assert not [path for path in document["paths"] if "metrics" in path]
    return scraped


def check_worker_metrics(worker: Samples, ingest: IngestRead) -> set[str]:
    """The per-micro-service counters add up to the files; returns the activity types the worker ran."""
    for microservice in PER_FILE:
        assert value(worker, "amber_microservice_files_total", microservice=microservice) == ingest.file_count
        assert value(worker, "amber_microservice_duration_seconds_count",
                     microservice=microservice) == ingest.file_count
        assert value(worker, "amber_microservice_failures_total", microservice=microservice) == 0
    batches = value(worker, "amber_jobs_total", microservice="Process files", status="completed")
    assert ingest.file_count is not None and batches == -(-ingest.file_count // BATCH)
    assert value(worker, "amber_activities_total", activity="process_batch", outcome="succeeded") == batches
    # The work around the files, step by step: once per batch, or once per ingest, with the tools' CPU.
    for step in ("batch: record files", "batch: record tasks"):
        assert value(worker, "amber_step_duration_seconds_count", step=step) == batches
    for step in ("prepare: arrange", "bag: METS download", "bag: METS validation", "bag: manifest", "compress: 7z",
                 "finish: pointer file", "finish: remove working copies"):
        assert value(worker, "amber_step_duration_seconds_count", step=step) == 1, step
    assert value(worker, "amber_step_cpu_seconds_total", step="compress: 7z") > 0
    kinds = {dict(labels)["activity"] for name, labels in worker if name == "amber_activities_total"}
    assert {"prepare_sip", "process_batch", "record_transfer_metadata", "build_bag", "compress_aip", "store_aip",
            "finish_ingest"} <= kinds
    return kinds


def check_service_metrics(scraped: dict[str, Samples], ingest: IngestRead) -> None:
    assert value(scraped["ingest"], "amber_ingests", status="stored") == 1
    assert value(scraped["ingest"], "amber_admission_queue_length") == 0
    assert value(scraped["transfer"], "amber_transfers", status="stored") == 1
    storage = scraped["storage"]
    # Stored, then checked: a verified AIP.
    assert value(storage, "amber_storage_packages", type="aip", status="verified") == 1
    assert value(storage, "amber_storage_packages", type="aip", status="stored") == 0
    assert value(storage, "amber_storage_package_bytes", type="aip", status="verified") == ingest.aip_size
    assert value(storage, "amber_storage_stored_bytes_total", type="aip") == ingest.aip_size
    assert value(storage, "amber_storage_fixity_checks_total", result="passed") == 1
    assert value(storage, "amber_storage_fixity_packages", result="passed") == 1
    assert value(storage, "amber_storage_fixity_packages", result="unchecked") == 0
    gateway = scraped["gateway"]
    assert value(gateway, "amber_http_requests_total", operation="upload_transfer", method="POST", status="201") == 1
    # Named by the service's operation id, whose path holds the AIP's UUID.
    assert value(gateway, "amber_http_requests_total", operation="check_aip_fixity", method="POST", status="200") == 1
    assert ingest.file_count is not None
    assert value(scraped["metadata"], "amber_http_request_duration_seconds_count", operation="add_premis_files",
                 method="POST", status="200") == -(-ingest.file_count // BATCH)


def check_trace(spans: Sequence[ReadableSpan], activity_kinds: set[str]) -> None:
    """The upload's trace covers the gateway, every service, the workflow and every kind of activity."""
    [upload] = [s for s in spans if s.kind is SpanKind.SERVER and s.attributes
                and s.attributes.get(SERVICE_ATTRIBUTE) == "gateway" and s.name == "POST upload_transfer"]
    assert upload.context is not None and upload.parent is not None
    # The caller's own span (the typed client's, here in the test) is the root: the gateway continued its trace.
    [caller] = [s for s in spans if s.context is not None and s.context.span_id == upload.parent.span_id]
    assert caller.kind is SpanKind.CLIENT and caller.parent is None
    ingest_trace = in_trace(spans, upload.context.trace_id)
    servers = {str(s.attributes[SERVICE_ATTRIBUTE]) for s in ingest_trace
               if s.kind is SpanKind.SERVER and s.attributes and SERVICE_ATTRIBUTE in s.attributes}
    assert servers == {"gateway", "transfer", "ingest", "metadata", "storage"}
    names = {s.name for s in ingest_trace}
    assert "RunWorkflow:IngestWorkflow" in names
    assert {f"RunActivity:{kind}" for kind in activity_kinds} <= names
    peers = {str(s.attributes.get("peer.service")) for s in ingest_trace if s.kind is SpanKind.CLIENT and s.attributes}
    assert {"transfer", "ingest", "metadata", "storage"} <= peers
    # Every activity of the ingest belongs to this one trace, none to another.
    activities = [s for s in spans if s.name.startswith("RunActivity:")]
    assert activities and {s.context.trace_id for s in activities if s.context} == {upload.context.trace_id}
