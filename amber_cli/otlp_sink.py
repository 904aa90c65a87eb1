"""A local OTLP/HTTP trace receiver for tests and benchmarks: accepts `POST /v1/traces`, counts what arrives,
and can keep the spans' names.

Stands for a collector in the overhead benchmark (which discards) and in tests (which read the spans back).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Received:
    requests: int = 0
    bytes: int = 0
    spans: int = 0
    # (service.name, span name) of every span, when kept.
    names: list[tuple[str, str]] = field(default_factory=list)


class OtlpSink:
    def __init__(self, *, keep: bool = False) -> None:
        self.received = Received()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(keep))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> OtlpSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _record(self, body: bytes, keep: bool) -> None:
        export = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            self.received.requests += 1
            self.received.bytes += len(body)
            for resource in export.resource_spans:
                service = next((a.value.string_value for a in resource.resource.attributes
                                if a.key == "service.name"), "")
                for scope in resource.scope_spans:
                    self.received.spans += len(scope.spans)
                    if keep:
                        self.received.names.extend((service, span.name) for span in scope.spans)

    def _handler(self, keep: bool) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                sink._record(body, keep)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: one line per export would drown the benchmark's output."""

        return Handler
