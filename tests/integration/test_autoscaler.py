"""The autoscaler for real: more load adds a replica without failed requests; quiet removes it."""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from reference_platform.model import MODEL_NAME
from reference_platform.probes import probe_body
from tests.integration.conftest import Platform, running_platform

pytestmark = pytest.mark.integration


class ClosedLoop:
    """`clients` callers, each sending its next request as soon as the last one answers (bounded in time).

    Closed loop, not a fixed rate: with `clients` requests always in flight one replica's response time is
    about `clients` x its service time on any machine, so the load is "too much for one replica" on a fast
    box and a slow one alike, and it never overloads the platform into timeouts.
    """

    def __init__(self, host: str, port: int, clients: int, max_s: float) -> None:
        self.host, self.port, self.max_s = host, port, max_s
        self.body = probe_body()
        self.stop_event = threading.Event()
        self.statuses: Counter[object] = Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self) -> None:
        deadline = time.monotonic() + self.max_s
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            try:
                conn.request("POST", f"/v2/models/{MODEL_NAME}/infer", body=self.body.body, headers=self.body.headers)
                resp = conn.getresponse()
                resp.read()
                status: object = resp.status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            with self.lock:
                self.statuses[status] += 1
        conn.close()

    def stop(self) -> Counter[object]:
        self.stop_event.set()
        for t in self.threads:
            t.join(10)
        return self.statuses


def test_scale_up_under_load_and_back_down_when_quiet(tmp_path: Path) -> None:
    config = (
        "replicas: 1\nautoscaler:\n  enabled: true\n  min_replicas: 1\n  max_replicas: 2\n"
        "  target_ms: 3\n  cooldown_s: 4\n  scale_down_after_s: 4\n"  # 24 callers on one replica queue past 3 ms even on a fast box
    )
    with running_platform(tmp_path, config) as p:
        assert [x["name"] for x in p.pods()] == ["a-0"]
        host, _, port = p.state["gateway"]["http"].removeprefix("http://").rpartition(":")
        load = ClosedLoop(host, int(port), clients=24, max_s=60)
        try:
            deadline = time.monotonic() + 30
            while not (len(p.pods()) == 2 and all(x["ready"] for x in p.pods())) and time.monotonic() < deadline:
                time.sleep(0.5)
            scaled = [(x["name"], x["ready"]) for x in p.pods()]
            assert scaled == [("a-0", True), ("a-1", True)], (scaled, p.served())  # it scaled up under load
            time.sleep(2)
            served_before = p.served().get("a-1", 0)
            time.sleep(2)
            assert p.served().get("a-1", 0) > served_before  # the new replica takes traffic
        finally:
            statuses = load.stop()
        assert [x["name"] for x in p.pods()] == ["a-0", "a-1"]
        assert set(statuses) == {200} and statuses[200] > 500, statuses
        deadline = time.monotonic() + 30
        while len(p.pods()) > 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert [x["name"] for x in p.pods()] == ["a-0"]
        events = httpx.get(p.state["control_url"] + "/status", timeout=5).json()["autoscaler"]
        assert [(e["pod"], e["step"]) for e in events] == [("a-1", 1), ("a-1", -1)]
        assert events[0]["rtime_ms"] > 3 or events[0]["queued"] > 0, events[0]  # over the target, or queued


def test_replicas_outside_the_autoscaler_bounds_is_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "platform.yaml"
    config.write_text("replicas: 5\nautoscaler:\n  enabled: true\n  max_replicas: 3\n")
    p = Platform(tmp_path / "state", {**os.environ, "RESILIENCE_STATE_DIR": str(tmp_path / "state")})
    result = p.cli("platform", "up", "--config", str(config))
    assert result.returncode == 2 and "max_replicas" in result.stderr
