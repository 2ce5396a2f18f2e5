"""The small JSON-over-HTTP base every platform component's API shares (stdlib server, loopback only)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class QuietJSONHandler(BaseHTTPRequestHandler):
    """No access log on stderr; `send(code, body)` with the length set."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
