"""Self-healing for real: restarts back off exponentially, crash loops are flagged, reasons are kept."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Platform, start_load

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
    # other tests on this shared platform may have added restarts with other reasons (e.g. liveness)
    prefix = f'supervisor_pod_restarts_total{{pod="{name}",reason="exited"'
    exited = [m for m in metrics.splitlines() if m.startswith(prefix)]
    assert exited and float(exited[0].split()[-1]) >= 3, metrics


def _stub_of(pgid: int) -> int:
    import psutil

    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if os.getpgid(proc.pid) == pgid and "triton_python_backend_stub" in " ".join(proc.info["cmdline"] or []):
                return proc.pid
        except (ProcessLookupError, psutil.Error):
            continue
    raise AssertionError(f"no python backend stub in process group {pgid}")


def test_a_zombie_replica_is_caught_by_the_inference_liveness_probe(platform: Platform) -> None:
    """Killing only the backend stub leaves /v2/health/ready at 200 while every inference fails."""
    name = "a-0"
    pod = _wait(platform, name, lambda p: p["ready"])
    os.kill(_stub_of(pod["pid"]), signal.SIGKILL)
    health = httpx.get(f"http://127.0.0.1:{pod['http_port']}/v2/health/ready", timeout=2)
    assert health.status_code == 200  # the trap: a health-endpoint-only probe would keep it
    restarted = _wait(platform, name, lambda p: (p["last_exit"] or {}).get("pid") == pod["pid"], timeout=30)
    assert restarted["last_exit"]["reason"].startswith("liveness probe failed"), restarted["last_exit"]
    _wait(platform, name, lambda p: p["ready"] and p["pid"] not in (None, pod["pid"]))


def test_users_never_see_the_zombie_replica(platform: Platform, tmp_path: Path) -> None:
    """Under load: its 500s are retried on the other replica (retry-on 500), then it is restarted."""
    name = "a-0"
    pod = _wait(platform, name, lambda p: p["ready"])
    gen = start_load(platform, tmp_path, rate=100, max_s=60)
    try:
        time.sleep(1)
        os.kill(_stub_of(pod["pid"]), signal.SIGKILL)
        _wait(platform, name, lambda p: p["ready"] and p["pid"] not in (None, pod["pid"]), timeout=30)
        time.sleep(1)
    finally:
        summary = gen.stop()
    assert summary.requests > 300
    assert summary.failures == 0, summary.errors
