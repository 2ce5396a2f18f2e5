"""The autoscaler for real: more load adds a replica without failed requests; quiet removes it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Platform, running_platform, start_load

pytestmark = pytest.mark.integration


def test_scale_up_under_load_and_back_down_when_quiet(tmp_path: Path) -> None:
    config = (
        "replicas: 1\nautoscaler:\n  enabled: true\n  min_replicas: 1\n  max_replicas: 2\n"
        "  target_ms: 6\n  cooldown_s: 4\n  scale_down_after_s: 4\n"
    )
    with running_platform(tmp_path, config) as p:
        assert [x["name"] for x in p.pods()] == ["a-0"]
        gen = start_load(p, tmp_path, rate=220, max_s=60)
        try:
            deadline = time.monotonic() + 30
            while not (len(p.pods()) == 2 and all(x["ready"] for x in p.pods())) and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2)
            served_before = p.served().get("a-1", 0)
            time.sleep(2)
            assert p.served().get("a-1", 0) > served_before  # the new replica takes traffic
        finally:
            summary = gen.stop()
        assert [x["name"] for x in p.pods()] == ["a-0", "a-1"]
        assert summary.failures == 0, summary.errors
        deadline = time.monotonic() + 30
        while len(p.pods()) > 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert [x["name"] for x in p.pods()] == ["a-0"]
        events = httpx.get(p.state["control_url"] + "/status", timeout=5).json()["autoscaler"]
        assert [(e["pod"], e["step"]) for e in events] == [("a-1", 1), ("a-1", -1)]
        assert events[0]["rtime_ms"] > 6


def test_replicas_outside_the_autoscaler_bounds_is_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "platform.yaml"
    config.write_text("replicas: 5\nautoscaler:\n  enabled: true\n  max_replicas: 3\n")
    p = Platform(tmp_path / "state", {**os.environ, "RESILIENCE_STATE_DIR": str(tmp_path / "state")})
    result = p.cli("platform", "up", "--config", str(config))
    assert result.returncode == 2 and "max_replicas" in result.stderr
