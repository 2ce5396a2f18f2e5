"""Self-healing for real: restarts back off exponentially, crash loops are flagged, reasons are kept."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from tests.integration.conftest import Platform

pytestmark = pytest.mark.integration


def _pod(platform: Platform, name: str) -> dict:  # type: ignore[type-arg]
    return next(p for p in platform.pods() if p["name"] == name)


def _wait(platform: Platform, name: str, pred, timeout: float = 60) -> dict:  # type: ignore[no-untyped-def,type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = _pod(platform, name)
        if pred(pod):
            return pod
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached the expected state: {_pod(platform, name)}")


def test_repeated_kills_back_off_exponentially_and_report_the_reason(platform: Platform) -> None:
    name = "a-1"
    _wait(platform, name, lambda p: p["ready"])
    gaps = []
    for _ in range(3):
        pod = _pod(platform, name)
        os.killpg(pod["pid"], signal.SIGKILL)
        died = _wait(platform, name, lambda p, old=pod["pid"]: (p["last_exit"] or {}).get("pid") == old)
        assert died["last_exit"]["signal"] == "SIGKILL" and died["last_exit"]["reason"] == "exited: signal 9"
        back = _wait(platform, name, lambda p, old=pod["pid"]: p["pid"] not in (None, old) and p["ready"])
        gaps.append(back["started_at"] - died["last_exit"]["at"])
    # the first restart is immediate, then 1 s, then 2 s (doubling, Kubernetes-like, scaled down)
    assert gaps[0] < 0.8, gaps
    assert 0.9 <= gaps[1] < 1.8, gaps
    assert 1.9 <= gaps[2] < 3.0, gaps
    metrics = httpx.get(platform.state["control_url"] + "/metrics", timeout=5).text
    line = next(m for m in metrics.splitlines() if m.startswith(f'supervisor_pod_restarts_total{{pod="{name}"'))
    assert float(line.split()[-1]) >= 3
