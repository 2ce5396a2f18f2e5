"""Load shapes, gRPC users, and SLO verdicts with confidence, detection times and stop conditions, for real."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from resilience.load import LoadGenerator, LoadSpec
from tests.integration.conftest import ROOT, Platform, short_experiment
from tests.integration.faultcheck import assert_nothing_left

pytestmark = pytest.mark.integration


def _generate(p: Platform, tmp_path: Path, spec: LoadSpec, grpc: bool = False) -> LoadGenerator:
    gen = LoadGenerator(
        spec,
        target=p.state["gateway"]["grpc" if grpc else "http"],
        payload=ROOT / "reference_platform" / "model" / "samples.npy",
        model="qc_cnn",
        input_name="images",
        log_path=tmp_path / "locust.log",
    )
    gen.start()
    return gen


def _rate(gen: LoadGenerator, a: float, b: float) -> float:
    """Requests per second intended in [a, b) seconds after the generator's own start (its profile's time 0)."""
    slices = gen.slices()
    t0 = slices[0].start - slices[0].index * (slices[0].end - slices[0].start)
    got = [s for s in slices if t0 + a <= s.start and s.end <= t0 + b]
    return sum(s.total for s in got) / (b - a)


def test_a_step_and_a_spike_are_followed_by_the_open_loop_schedule(platform: Platform, tmp_path: Path) -> None:
    spec = LoadSpec(rate=40, warmup_s=0, shape="step", steps=[[3, 120]], max_duration_s=30)
    gen = _generate(platform, tmp_path, spec)
    time.sleep(6.2)
    gen.stop()
    low, high = _rate(gen, 0.5, 2.75), _rate(gen, 3.25, 5.75)
    assert 28 <= low <= 52 and 95 <= high <= 145, (low, high)  # Poisson noise over ~2.5 s windows
    assert gen.summary().failures == 0

    spike = LoadSpec(rate=30, warmup_s=0, shape="spike", spike_rate=200, spike_at_s=2, spike_s=1.5, arrival="constant")
    gen = _generate(platform, tmp_path, spike)
    time.sleep(5)
    gen.stop()
    before, during, after = _rate(gen, 0.5, 1.75), _rate(gen, 2.25, 3.25), _rate(gen, 4.0, 4.75)
    assert 20 <= before <= 40 and 170 <= during <= 230 and 20 <= after <= 40, (before, during, after)

    ramp = LoadSpec(rate=20, warmup_s=0, shape="ramp", ramp_to=140, ramp_s=4, arrival="constant")
    gen = _generate(platform, tmp_path, ramp)
    time.sleep(5.5)
    gen.stop()
    early, middle, held = _rate(gen, 0.0, 1.0), _rate(gen, 1.5, 2.5), _rate(gen, 4.25, 5.25)
    assert 25 <= early <= 55 and 65 <= middle <= 95 and 120 <= held <= 160, (early, middle, held)  # 35, 80, 140
    assert gen.summary().target_rps == pytest.approx(
        (80 * 4 + 140 * (gen.summary().duration_s - 4)) / gen.summary().duration_s, rel=0.1
    )


def test_grpc_users_send_real_inferences_through_the_gateway(platform: Platform, tmp_path: Path) -> None:
    gen = _generate(platform, tmp_path, LoadSpec(rate=50, warmup_s=0, protocol="grpc", max_duration_s=30), grpc=True)
    time.sleep(4)
    gen.stop()
    summary = gen.summary()
    assert summary.requests >= 150 and summary.failures == 0, summary
    assert summary.achieved_rps == pytest.approx(50, rel=0.25)


def test_a_stop_condition_aborts_the_method_and_rolls_back(platform: Platform, tmp_path: Path) -> None:
    catalogue = tmp_path / "slos.yaml"
    catalogue.write_text(
        "slos:\n  - {name: availability, sli: availability, objective: 0.99}\n"
        "  - {name: latency-p99, sli: latency, percentile: 99, objective: 250}\n"
    )

    def outage(exp: dict[str, Any]) -> None:
        # 3 s each way on every replica: every request outlives the gateway's 1 s server timeout
        exp["method"][0]["provider"] = {
            "type": "python",
            "module": "resilience.ctk.actions",
            "func": "add_latency",
            "arguments": {"latency_ms": 3000, "duration_s": 60, "percentage": 100, "max_fraction": 1.0},
        }
        exp["controls"][0]["provider"]["arguments"]["stop_when"] = [
            {"slo": "availability", "burn_rate_above": 14.4, "window_s": 1}
        ]
        exp["rollbacks"] = [
            {
                "type": "action",
                "name": "undo-any-fault-still-active",
                "provider": {"type": "python", "module": "resilience.ctk.actions", "func": "rollback_faults"},
            }
        ]

    report_dir = tmp_path / "r"
    started = time.monotonic()
    result = platform.cli("run", str(short_experiment(tmp_path, outage, catalogue)), "--report-dir", str(report_dir))
    took = time.monotonic() - started
    report = json.loads((report_dir / "report.json").read_text())
    assert result.returncode == 1, result.stdout + result.stderr
    assert report["status"] == "aborted" and "stop condition" in report["reasons"][0], report["reasons"]
    assert took < 45  # the 60 s fault was cut short
    availability = next(s for s in report["slos"] if s["name"] == "availability")
    assert availability["verdict"] == "fail" and availability["budget_consumed"] == 1.0
    assert availability["time_to_detect_s"] is not None and availability["time_to_detect_s"] <= 3.5
    # the toolkit held the slice that paged only after its requests answered or timed out: later, never earlier
    assert availability["time_to_detect_wall_s"] >= availability["time_to_detect_s"]
    assert any(a.startswith("page-fast") for a in availability["alerts"])
    assert_nothing_left(platform.state_dir)


def test_locusts_web_ui_on_request_and_a_users_own_locustfile_alongside(platform: Platform, tmp_path: Path) -> None:
    import httpx

    from reference_platform.pods import free_port

    mine = tmp_path / "mine.py"
    mine.write_text(
        "from locust import HttpUser, constant, task\n\n"
        "class Health(HttpUser):\n"
        "    wait_time = constant(0.1)\n\n"
        "    @task\n"
        "    def ready(self):\n"
        "        self.client.get('/v2/health/ready')\n"
    )
    port = free_port()
    spec = LoadSpec(rate=30, warmup_s=0, web_ui_port=port, extra_locustfile=str(mine), extra_users=2)
    gen = _generate(platform, tmp_path, spec)
    try:
        time.sleep(3)
        stats = httpx.get(f"http://127.0.0.1:{port}/stats/requests", timeout=5).json()
        infer = next(s for s in stats["stats"] if s["name"] == "qc_cnn")
        assert infer["num_requests"] > 30  # the web UI shows the open-loop requests live
        extra_pid = gen._extra.pid if gen._extra else None
        assert extra_pid is not None
    finally:
        gen.stop()
    assert gen.summary().failures == 0
    summary = (tmp_path / "locust-extra.log").read_text()
    assert "/v2/health/ready" in summary  # the user's locustfile ran its own requests alongside
    import psutil

    assert not psutil.pid_exists(extra_pid) or psutil.Process(extra_pid).status() == psutil.STATUS_ZOMBIE
