"""The supervisor's JSON control API on loopback (see `reference_platform.supervisor` for the routes)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import generate_latest

from reference_platform.contracts import PodRecord, RolloutState
from reference_platform.httpjson import QuietJSONHandler

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from reference_platform.gateway import RuntimeAPI
    from reference_platform.rollout import RolloutController


class ControlPlane(Protocol):
    """What the control API serves and acts on (the supervisor implements it)."""

    @property
    def stopping(self) -> threading.Event: ...

    @property
    def registry(self) -> CollectorRegistry: ...

    @property
    def gateway_api(self) -> RuntimeAPI: ...

    @property
    def rollout(self) -> RolloutController | None: ...

    def status(self) -> dict[str, object]: ...

    def pod_list(self) -> list[PodRecord]:
        """Every pod, as `GET /pods` serves it."""
        ...

    def start_rollout(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def route(self, request: dict[str, Any]) -> dict[str, Any]: ...


def handler(sup: ControlPlane) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietJSONHandler):
        def _rollout(self) -> None:
            try:
                if self.path == "/rollout":
                    length = int(self.headers.get("Content-Length") or 0)
                    body = json.loads(self.rfile.read(length) or b"{}")
                    self._send(202, json.dumps(sup.start_rollout(body)).encode())
                    return
                if sup.rollout is None:
                    self._send(404, b'{"error": "no rollout"}')
                elif self.path == "/rollout/promote":
                    sup.rollout.promote()
                    self._send(200, json.dumps(sup.rollout.rollout.to_json()).encode())
                elif self.path == "/rollout/abort":
                    sup.rollout.abort()
                    self._send(200, json.dumps(sup.rollout.rollout.to_json()).encode())
                else:
                    self._send(404, b'{"error": "unknown path"}')
            except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
                self._send(400, json.dumps({"error": str(exc)}).encode())

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            if self.path == "/rollout":
                body = sup.rollout.rollout.to_json() if sup.rollout else {"state": RolloutState.NONE}
                self._send(200, json.dumps(body).encode())
                return
            if self.path == "/pods":
                self._send(200, json.dumps([p.model_dump(mode="json") for p in sup.pod_list()]).encode())
            elif self.path == "/status":
                self._send(200, json.dumps(sup.status()).encode())
            elif self.path == "/metrics":
                self._send(200, generate_latest(sup.registry), "text/plain; version=0.0.4")
            elif self.path == "/gateway":
                try:
                    served = sup.gateway_api.served_by_server()
                except OSError as exc:
                    self._send(503, json.dumps({"error": str(exc)}).encode())
                    return
                self._send(200, json.dumps({"served": served}).encode())
            elif self.path == "/healthz":
                self._send(200, b'{"ok": true}')
            else:
                self._send(404, b'{"error": "unknown path"}')

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            if self.path.startswith("/rollout"):
                self._rollout()
            elif self.path == "/route":
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    result = sup.route(json.loads(self.rfile.read(length) or b"{}"))
                except (ValueError, TypeError, KeyError, OSError) as exc:
                    self._send(400, json.dumps({"error": str(exc)}).encode())
                    return
                self._send(200, json.dumps(result).encode())
            elif self.path == "/shutdown":
                self._send(202, b'{"stopping": true}')
                sup.stopping.set()
            else:
                self._send(404, b'{"error": "unknown path"}')

    return Handler
