"""The pipeline for real: cameras -> preprocessing -> gateway/Triton -> sink, as supervised processes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import Platform, running_platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # one preprocessing worker: the overload test needs cameras that can outrun inference on any box
    config = "pipeline:\n  enabled: true\n  cameras: 4\n  fps: 10\n  workers: 1\n  drift_reference: 250\n  drift_window: 250\n"
    with running_platform(tmp_path_factory.mktemp("pipeline"), config) as p:
        yield p


def metrics(p: Platform, stage: str) -> dict[str, float]:
    """Every sample by its full name (labels included), plus each metric summed over its labels."""
    text = httpx.get(p.state["pipeline"][stage] + "/metrics", timeout=5).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
            if "{" in name:
                bare = name.split("{")[0]
                out[bare] = out.get(bare, 0.0) + float(value)
    return out


def control(p: Platform, **body: object) -> dict[str, object]:
    resp = httpx.post(p.state["pipeline"]["cameras"] + "/control", json=body, timeout=5)
    assert resp.status_code == 200, resp.text
    data: dict[str, object] = resp.json()
    return data


def wait_for(pred, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.25)


def test_frames_flow_end_to_end(pipeline: Platform) -> None:
    before = metrics(pipeline, "sink").get("pipeline_sink_results_total", 0)
    wait_for(lambda: metrics(pipeline, "sink")["pipeline_sink_results_total"] >= before + 40)
    sink = metrics(pipeline, "sink")
    assert sink["pipeline_sink_end_to_end_seconds_count"] == sink["pipeline_sink_results_total"]
    assert sink["pipeline_sink_end_to_end_seconds_sum"] / sink["pipeline_sink_end_to_end_seconds_count"] < 1.0


def test_corrupted_frames_are_counted_and_skipped_without_crashing(pipeline: Platform) -> None:
    pids = {p["name"]: p["pid"] for p in pipeline.pods()}
    control(pipeline, corrupt_ratio=0.3)
    try:
        wait_for(
            lambda: (
                sum(
                    v
                    for k, v in metrics(pipeline, "preprocess").items()
                    if k.startswith("pipeline_preprocess_frames_rejected_total")
                )
                >= 20
            )
        )
        results = metrics(pipeline, "sink")["pipeline_sink_results_total"]
        wait_for(lambda: metrics(pipeline, "sink")["pipeline_sink_results_total"] > results + 20)
    finally:
        control(pipeline, corrupt_ratio=0.0)
    pre = metrics(pipeline, "preprocess")
    reasons = {k for k, v in pre.items() if k.startswith("pipeline_preprocess_frames_rejected_total") and v > 0}
    assert any('reason="checksum"' in r for r in reasons) and any('reason="truncated"' in r for r in reasons)
    assert {p["name"]: p["pid"] for p in pipeline.pods()} == pids  # nothing crashed or restarted


def _probe(p: Platform, max_psi: float) -> bool:
    from resilience.ctk.probes import prediction_drift_below
    from resilience.engine import session
    from resilience.engine.session import RunPlan, RunSession

    session.begin(RunSession(RunPlan(experiment_path=None, work_dir=p.state_dir)))
    try:
        session.current().platform(p.state_dir)
        return prediction_drift_below(max_psi)
    finally:
        session.end()


def test_a_shift_in_the_parts_shows_up_as_prediction_drift(pipeline: Platform) -> None:
    wait_for(lambda: metrics(pipeline, "sink")["pipeline_sink_prediction_psi"] >= 0, timeout=60)
    calm = metrics(pipeline, "sink")["pipeline_sink_prediction_psi"]
    assert calm < 0.25  # PSI noise of two 250-frame windows of the same belt stays well under this
    assert _probe(pipeline, max_psi=0.5) is True
    control(pipeline, defect_rate=1.0)  # every part on the belt is now defective
    try:
        # well past the line, so the probe's own read a moment later cannot land just under it
        wait_for(lambda: metrics(pipeline, "sink")["pipeline_sink_prediction_psi"] > 0.5, timeout=60)
        assert _probe(pipeline, max_psi=0.25) is False  # the CTK probe sees it too
    finally:
        control(pipeline, defect_rate=0.5)
    assert metrics(pipeline, "sink")["pipeline_sink_defect_ratio"] > 0.5


def test_overload_is_shed_at_the_cameras_with_bounded_queues(pipeline: Platform) -> None:
    # 4,000 frames/s asked (the cameras make what they can): one preprocessing worker, each frame waiting on its
    # inference, carries a few hundred
    control(pipeline, fps=1000)
    try:
        wait_for(lambda: metrics(pipeline, "cameras").get("pipeline_camera_frames_dropped_total", 0) > 100)
        depth = metrics(pipeline, "preprocess")["pipeline_preprocess_queue_depth"]
    finally:
        control(pipeline, fps=10)
    assert depth <= 32  # the bounded in-process queue: memory cannot grow without limit
    assert all(p["ready"] for p in pipeline.pods())


def test_bad_control_input_is_refused(pipeline: Platform) -> None:
    resp = httpx.post(pipeline.state["pipeline"]["cameras"] + "/control", json={"fsp": 3}, timeout=5)
    assert resp.status_code == 400 and "unknown field" in resp.json()["error"]


def test_shadow_rollout_mirrors_frames_compares_and_never_answers(pipeline: Platform) -> None:
    start = pipeline.cli("platform", "deploy", "--strategy", "shadow", "--version", "1")
    assert start.returncode == 0, start.stderr
    deadline = time.monotonic() + 60
    state: dict = {}  # type: ignore[type-arg]
    while time.monotonic() < deadline:
        state = httpx.get(pipeline.state["control_url"] + "/rollout", timeout=5).json()
        if state["state"] == "progressing" and state["canary"].get("shadow", {}).get("requests", 0) >= 30:
            break
        time.sleep(0.5)
    shadow = state["canary"]["shadow"]
    assert shadow["requests"] >= 30 and shadow["errors"] == 0
    assert shadow["agreement_ratio"] == 1.0  # the same model answers the same
    assert "shadow" not in pipeline.served()  # not behind the gateway: no user can reach it
    names = [p["name"] for p in pipeline.pods()]
    assert "shadow" in names
    abort = pipeline.cli("platform", "deploy", "--abort")
    assert abort.returncode == 0 and "aborted" in abort.stderr
    assert "shadow" not in [p["name"] for p in pipeline.pods()]
    mirrored = metrics(pipeline, "preprocess")["pipeline_shadow_requests_total"]
    time.sleep(2)
    assert metrics(pipeline, "preprocess")["pipeline_shadow_requests_total"] == mirrored  # mirroring stopped


def test_shadow_needs_the_pipeline(platform: Platform) -> None:
    result = platform.cli("platform", "deploy", "--strategy", "shadow", "--version", "1")
    assert result.returncode == 2 and "--pipeline" in result.stderr
