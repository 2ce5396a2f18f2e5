"""What every pipeline stage shares: its HTTP side (`/metrics`, `/healthz`, `/control`) and its sizing.

Stages are joined by ZeroMQ PUSH/PULL with high-water marks of `HWM` messages; their latency histograms
share `LATENCY_BUCKETS` (the toolkit's Prometheus rules name the same bounds; a unit test keeps them equal).
"""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from reference_platform.httpjson import QuietJSONHandler

HWM = 16
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def serve(port: int, registry: CollectorRegistry, control: Any = None, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    class Handler(QuietJSONHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            if self.path == "/metrics":
                self._send(200, generate_latest(registry), "text/plain; version=0.0.4")
            elif self.path == "/healthz":
                self._send(200, b'{"ok": true}')
            else:
                self._send(404, b"{}")

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            if self.path != "/control" or control is None:
                self._send(404, b"{}")
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                self._send(200, json.dumps(control(body)).encode())
            except (ValueError, TypeError) as exc:
                self._send(400, json.dumps({"error": str(exc)}).encode())

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
