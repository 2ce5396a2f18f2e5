"""`platform down` leaves nothing behind, even after the supervisor itself was SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import Platform, platform_processes

pytestmark = pytest.mark.integration


def test_down_after_the_supervisor_was_killed_sweeps_every_orphan(tmp_path: Path) -> None:
    p = Platform(tmp_path, {**os.environ, "RESILIENCE_STATE_DIR": str(tmp_path)})
    up = p.cli("platform", "up", "--replicas", "1")
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "platform.json").read_text())
    names = {proc.name() for proc in platform_processes(state["platform_id"])}
    assert "tritonserver" in names and "haproxy" in names, names

    os.kill(state["supervisor_pid"], signal.SIGKILL)
    time.sleep(0.5)
    orphans = platform_processes(state["platform_id"])
    assert any(proc.name() == "tritonserver" for proc in orphans)  # the kill really left orphans
    servers = [proc.pid for proc in orphans if proc.name() == "tritonserver"]
    assert all(list(Path("/dev/shm").glob(f"rsw{pid}_*")) for pid in servers)  # each holds its backend's segment

    status = p.cli("platform", "status")
    assert status.returncode == 1 and "not running" in status.stderr

    down = p.cli("platform", "down")
    assert down.returncode == 0, down.stderr
    assert "leftover" in down.stderr
    assert platform_processes(state["platform_id"]) == []
    assert not any(psutil.pid_exists(proc.pid) for proc in orphans)
    assert not (tmp_path / "platform.json").exists()
    assert [seg for pid in servers for seg in Path("/dev/shm").glob(f"rsw{pid}_*")] == []


def test_up_is_idempotent_and_status_shows_every_pod(platform: Platform) -> None:
    first = platform.state["supervisor_pid"]
    again = platform.cli("platform", "up")
    assert again.returncode == 0 and platform.state["supervisor_pid"] == first
    status = platform.cli("platform", "status")
    assert status.returncode == 0
    for pod in platform.pods():
        assert pod["name"] in status.stdout and str(pod["pid"]) in status.stdout


def test_up_refuses_a_different_shape_instead_of_reusing_the_running_platform(platform: Platform) -> None:
    first = platform.state["supervisor_pid"]
    assert platform.state["shape"] == {"regions": 1, "replicas": 2, "pipeline": False, "netns": False}
    other = platform.cli("platform", "up", "--regions", "2", "--replicas", "3")
    assert other.returncode == 2, other.stderr
    assert "1 region(s) x 2 replicas is already running" in other.stderr
    assert "replicas 2 (asked for 3), regions 1 (asked for 2)" in other.stderr and "platform down" in other.stderr
    same = platform.cli("platform", "up", "--replicas", "2")  # the shape it has: reused
    assert same.returncode == 0 and platform.state["supervisor_pid"] == first
    assert len([p for p in platform.pods() if p["role"] == "inference" and p["variant"] == "stable"]) == 2


def test_every_pod_reports_cpu_and_memory_and_gpus_are_never_faked(platform: Platform) -> None:
    import httpx

    from reference_platform.resources import gpus

    text = httpx.get(platform.state["control_url"] + "/metrics", timeout=5).text
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    for pod in platform.pods():
        labels = f'{{device="cpu",pod="{pod["name"]}",role="inference"}}'
        assert float(samples[f"pod_cpu_seconds_total{labels}"]) > 0
        assert float(samples[f"pod_memory_bytes{labels}"]) > 100e6  # tritonserver, its stub, a model
    assert float(samples["gpu_present"]) == (1.0 if gpus() else 0.0)


def test_status_shows_each_replicas_server_side_p99(platform: Platform) -> None:
    import httpx
    import numpy as np
    import tritonclient.http as triton_http

    from reference_platform.model import SAMPLES_PATH

    for pod in platform.pods():  # every replica needs requests of its own for a quantile
        client = triton_http.InferenceServerClient(f"127.0.0.1:{pod['http_port']}")
        inp = triton_http.InferInput("images", [1, 64, 64, 3], "UINT8")
        inp.set_data_from_numpy(np.load(SAMPLES_PATH)[:1])
        for _ in range(20):
            client.infer("qc_cnn", [inp])
    pods = httpx.get(platform.state["control_url"] + "/status", timeout=5).json()["pods"]
    assert all(0 < p["server_p99_ms"] < 1000 for p in pods), pods
    status = platform.cli("platform", "status")
    assert " ms" in status.stdout


def test_a_platform_whose_state_was_deleted_stops_itself(tmp_path: Path) -> None:
    """A removed state dir (a cleaned temp folder) leaves nothing `platform down` could find: it must not run on."""
    p = Platform(tmp_path, {**os.environ, "RESILIENCE_STATE_DIR": str(tmp_path)})
    up = p.cli("platform", "up", "--replicas", "1")
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "platform.json").read_text())
    assert platform_processes(state["platform_id"])
    (tmp_path / "platform.json").unlink()
    supervisor = psutil.Process(state["supervisor_pid"])
    supervisor.wait(timeout=30)  # it notices within its 2 s check and stops every pod on the way out
    deadline = time.monotonic() + 10
    while platform_processes(state["platform_id"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert platform_processes(state["platform_id"]) == []
    assert "was removed: stopping the platform" in (tmp_path / "logs" / "supervisor.log").read_text()


def test_capacity_is_measured_through_the_gateway_and_shown_in_status(platform: Platform, tmp_path: Path) -> None:
    """An objective no box can hold breaks at the first rung: measured, saved, shown; nothing passes by default."""
    catalogue = tmp_path / "slos.yaml"
    catalogue.write_text("slos:\n  - {name: instant, sli: latency, percentile: 99, objective: 0.001}\n")
    before = platform.cli("platform", "status")
    assert before.returncode == 0 and "capacity: not measured yet" in before.stdout, before.stdout
    result = platform.cli("platform", "capacity", "--slo", "instant", "--catalogue", str(catalogue), "--step-s", "2")
    assert result.returncode == 0, result.stderr
    assert "50 req/s: p99" in result.stderr and "breaks" in result.stderr, result.stderr
    assert "capacity: this box did not hold p99 <= 0.001 ms even at 50 req/s" in result.stdout, result.stdout
    saved = json.loads((platform.state_dir / "capacity.json").read_text())
    assert saved["platform_id"] == platform.state["platform_id"] and len(saved["steps"]) == 1
    step = saved["steps"][0]
    assert step["requests"] >= 450 and step["failed"] == 0 and step["latency_ms"] > 0.001 and not step["holds"]
    after = platform.cli("platform", "status")
    assert "did not hold p99 <= 0.001 ms even at 50 req/s" in after.stdout, after.stdout
    bad = platform.cli("platform", "capacity", "--slo", "nope", "--catalogue", str(catalogue))
    assert bad.returncode == 2 and "not a latency SLO" in bad.stderr, bad.stderr


def test_the_pod_list_answers_without_asking_a_frozen_replica(platform: Platform) -> None:
    """Fault verification polls `/pods` every 50 ms: it must not wait on a replica's metrics (`/status` does)."""
    import httpx

    victim = next(p for p in platform.pods() if p["role"] == "inference" and p["ready"])
    url = platform.state["control_url"]
    os.killpg(victim["pid"], signal.SIGSTOP)  # its /metrics no longer answers: a scrape waits out its 0.5 s timeout
    try:
        started = time.monotonic()
        pods = httpx.get(url + "/pods", timeout=5).json()
        pods_s = time.monotonic() - started
        started = time.monotonic()
        httpx.get(url + "/status", timeout=5).raise_for_status()
        status_s = time.monotonic() - started
    finally:
        os.killpg(victim["pid"], signal.SIGCONT)
    assert victim["name"] in [p["name"] for p in pods]
    assert all("server_p99_ms" not in p for p in pods)
    assert status_s >= 0.5  # the scrape of the frozen replica timed out...
    assert pods_s < status_s / 2, (pods_s, status_s)  # ...and the pod list did not wait for it
