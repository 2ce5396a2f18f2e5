"""Faults that must not pass in silence: a route left through a proxy, a bad canary the platform kept.

A stand-in for the platform supervisor's control API (a real HTTP server on a loopback port 0) lets
each test script what the platform does, down to refusing to restore a route; the fault proxies are
real processes. Nothing here needs Triton, so these tests take seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from resilience.errors import FaultError
from resilience.faults import BadCanary, FaultContext, Ledger, NetworkLatency, Selector, recover
from resilience.faults.ledger import RestoreRoute, StopProxy
from resilience.model import FaultKind
from resilience.model.faults import PENDING
from resilience.targets import LocalPlatform

pytestmark = pytest.mark.integration


class StubSupervisor:
    """The control API's /pods, /route and /rollout, answering as the test scripts it."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, dict[str, Any] | None]] = []
        self.refuse_restore = False
        self.rollout: dict[str, Any] = {"state": "none"}
        self.rollout_script: list[dict[str, Any]] = []
        """States the rollout moves through, one per poll, after it starts (the last one stays)."""
        self.aborts = 0
        self.lock = threading.Lock()

    def pods(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "role": "inference",
                "region": "a",
                "pid": 4_000_000 + i,  # never signalled: these faults only re-route and watch
                "ready": True,
                "restarts": 0,
                "ready_at": 1.0,
                "last_exit": None,
                "host": "127.0.0.1",
                "http_port": 9,  # nothing listens there: no traffic is sent in these tests
                "grpc_port": 9,
            }
            for i, name in enumerate(("a-0", "a-1"))
        ]

    def answer(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        with self.lock:
            if method == "GET" and path == "/pods":
                return 200, self.pods()
            if method == "POST" and path == "/route":
                assert body is not None
                self.routes.append((body["pod"], body["via"]))
                if body["via"] is None and self.refuse_restore:
                    return 503, {"error": "the gateway's runtime API did not answer"}
                return 200, {"pod": body["pod"], "via": body["via"]}
            if method == "POST" and path == "/rollout":
                self.rollout = {"state": "starting", "canary": {}, "started_at": time.time(), "reason": ""}
                return 200, self.rollout
            if method == "GET" and path == "/rollout":
                if self.rollout_script and self.rollout["state"] in ("starting", "progressing"):
                    step = self.rollout_script.pop(0) if len(self.rollout_script) > 1 else self.rollout_script[0]
                    self.rollout = self.rollout | step
                    if step["state"] in ("rolled-back", "promoted"):
                        self.rollout["decided_at"] = time.time()
                return 200, self.rollout
            if method == "POST" and path == "/rollout/abort":
                self.aborts += 1
                if self.rollout["state"] in ("starting", "progressing"):
                    self.rollout = self.rollout | {
                        "state": "aborted",
                        "reason": "by request",
                        "decided_at": time.time(),
                    }
                return 200, self.rollout
        return 404, {"error": f"no {method} {path}"}


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[tuple[StubSupervisor, LocalPlatform]]:
    supervisor = StubSupervisor()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            code, data = supervisor.answer(method, self.path, body)
            raw = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    state = {"control_url": url, "gateway": {"http": url, "grpc": "127.0.0.1:9"}, "model": "m"}
    (tmp_path / "platform.json").write_text(json.dumps(state))
    (tmp_path / "logs").mkdir()
    try:
        yield supervisor, LocalPlatform(tmp_path)
    finally:
        server.shutdown()
        server.server_close()


def _is_fault_proxy(pid: int) -> bool:
    try:
        return b"resilience.targets.faultproxy" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_a_route_the_gateway_would_not_restore_fails_the_fault_and_stays_in_the_ledger(
    stub: tuple[StubSupervisor, LocalPlatform],
) -> None:
    supervisor, platform = stub
    supervisor.refuse_restore = True
    ctx = FaultContext(platform)
    fault = NetworkLatency(Selector(labels={"name": "a-0"}), latency_ms=5, duration_s=0.3)
    with pytest.raises(FaultError, match=r"could not point the gateway back at a-0 .*run `resilience recover`"):
        fault.inject(ctx)
    via = supervisor.routes[0][1]
    assert supervisor.routes == [("a-0", via), ("a-0", None)] and via is not None  # re-pointed, restore refused
    (record,) = ctx.records  # settled with what was seen, not left "interrupted"
    assert record.error != PENDING and record.recovered_at is None, record
    assert "did not answer" in record.evidence["route_restore_failed"], record.evidence
    ledger = Ledger(platform.state_dir / "ledger")
    (entry,) = ledger.active()
    assert entry.kind is FaultKind.NETWORK_LATENCY and entry.undo[0] == RestoreRoute(pod="a-0")
    proxy = entry.undo[1]
    assert isinstance(proxy, StopProxy)
    proxy_pid = proxy.pid
    assert not _is_fault_proxy(proxy_pid)  # the proxy itself was stopped: only the route is left to undo

    # what the engine does after the run (its failures become `rollback_failures`): still refused, still kept
    (still,) = recover(ledger, platform)
    assert still.error is not None and "did not answer" in still.error and len(ledger.active()) == 1
    # once the gateway answers again, `resilience recover` restores the route and forgets the entry
    supervisor.refuse_restore = False
    (done,) = recover(ledger, platform)
    assert done.error is None and supervisor.routes[-1] == ("a-0", None)
    assert ledger.active() == []


def test_a_restored_route_clears_its_entry(stub: tuple[StubSupervisor, LocalPlatform]) -> None:
    supervisor, platform = stub
    (record,) = NetworkLatency(Selector(labels={"name": "a-1"}), latency_ms=5, duration_s=0.3).inject(
        FaultContext(platform)
    )
    assert supervisor.routes[-1] == ("a-1", None) and record.recovered_at is not None
    assert "route_restore_failed" not in record.evidence
    assert Ledger(platform.state_dir / "ledger").active() == []


def _progressing(requests: int) -> dict[str, Any]:
    return {"state": "progressing", "canary": {"a-canary": {"requests": requests}}}


def test_a_bad_canary_the_platform_promoted_is_unmet(stub: tuple[StubSupervisor, LocalPlatform]) -> None:
    supervisor, platform = stub
    supervisor.rollout_script = [_progressing(5), _progressing(9), {"state": "promoted", "reason": ""}]
    (record,) = BadCanary(version=2, weight=20, duration_s=5).inject(FaultContext(platform))
    assert record.landed and record.evidence["canary_requests"] == 9, record  # it served: the fault landed
    assert record.evidence["rolled_back_by_platform"] is False
    assert record.unmet == "the platform did not roll back the bad canary within 5 s (final state: promoted)"
    assert supervisor.aborts == 0 and Ledger(platform.state_dir / "ledger").active() == []


def test_a_bad_canary_still_running_when_time_ran_out_is_unmet(stub: tuple[StubSupervisor, LocalPlatform]) -> None:
    supervisor, platform = stub
    supervisor.rollout_script = [_progressing(3)]
    (record,) = BadCanary(version=2, weight=20, duration_s=1).inject(FaultContext(platform))
    assert record.landed and supervisor.aborts == 1 and record.evidence["final_state"] == "aborted", record
    assert record.evidence["aborted_by_fault"] is True
    assert record.unmet == (
        "the platform did not roll back the bad canary within 1 s "
        "(still progressing when the time ran out; the fault aborted it)"
    )


def test_a_bad_canary_the_platform_rolled_back_is_met(stub: tuple[StubSupervisor, LocalPlatform]) -> None:
    supervisor, platform = stub
    supervisor.rollout_script = [_progressing(4), {"state": "rolled-back", "reason": "p99 latency 8.1x stable"}]
    (record,) = BadCanary(version=2, weight=20, duration_s=5).inject(FaultContext(platform))
    assert record.landed and record.unmet is None and record.evidence["rolled_back_by_platform"] is True, record
    assert 0 <= record.evidence["time_to_rollback_s"] < 5 and supervisor.aborts == 0
