"""A KServe v2 endpoint that answers at once: the calibration server of the measurement benchmarks.

Not the platform: a server whose own cost is ~0, so what the benchmarks measure is the generator and
the measurement, not Triton. `OPEN` stalls every handler while cleared. Run standalone to serve on a port:

    python benchmarks/instant_server.py PORT
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPEN = threading.Event()
OPEN.set()
ANSWER = json.dumps(
    {"model_name": "qc_cnn", "outputs": [{"name": "probs", "datatype": "FP32", "shape": [1, 2], "data": [0.9, 0.1]}]}
).encode()


class Instant(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add ~40 ms to each answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        OPEN.wait()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args: object) -> None:
        pass


def serve(port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Instant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    serve(int(sys.argv[1]))
    threading.Event().wait()
