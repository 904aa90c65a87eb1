"""`/metrics` for a process without a web application (an ingest worker): a small HTTP server on a thread."""

from __future__ import annotations

import hmac
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from servicekit.metrics import Metrics

log = logging.getLogger(__name__)


class MetricsServer:
    """Serves `metrics` at `http://host:port/metrics`, asking for `token` when one is given, like the services."""

    def __init__(self, metrics: Metrics, host: str, port: int, token: str | None) -> None:
        self.server = ThreadingHTTPServer((host, port), _handler(metrics, token))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def start_metrics_server(metrics: Metrics, host: str, port: int, token: str | None) -> MetricsServer | None:
    """The server on `port` (0: any free one), or None when it cannot listen: a worker's preservation work goes
    on without its metrics, said loudly in the log."""
    try:
        server = MetricsServer(metrics, host, port, token).start()
    except OSError as exc:
        log.error("no /metrics for this process: cannot listen on %s:%d (%s)", host, port, exc)
        return None
    log.info("metrics at http://%s:%d/metrics", host, server.port)
    return server


def _handler(metrics: Metrics, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._answer(404, b"not found\n", "text/plain")
            elif token and not hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {token}"):
                self._answer(401, b"the metrics token is required\n", "text/plain")
            else:
                self._answer(200, metrics.render(), CONTENT_TYPE_LATEST)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes every few seconds would drown the worker's log."""

    return Handler
