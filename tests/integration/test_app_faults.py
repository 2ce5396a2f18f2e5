"""Model and data faults for real: a stalled camera, corrupted frames, and a degraded model as a canary.

Faults are injected in-process against a running platform, as `resilience run` does, and each test
checks the evidence the fault returns, the platform's own response, and that nothing is left behind.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reference_platform.model import ONNX_PATH
from reference_platform.model.repository import ModelRepository
from resilience.errors import PlatformError, ResilienceError
from resilience.faults import BadCanary, CameraFault, FaultContext, Ledger, recover
from resilience.model import FaultKind
from resilience.targets import LocalPlatform
from tests.integration.conftest import (
    ROOT,
    Platform,
    running_platform,
    short_experiment,
    slow_model_factor,
    start_load,
)
from tests.integration.faultcheck import assert_nothing_left, ledger_entries

pytestmark = pytest.mark.integration
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="building the slow model version needs the `train` extra"
)
needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None, reason="building the inaccurate model version needs the `train` extra"
)


def wait_for(pred: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.25)


def _sent(lp: LocalPlatform, camera: int) -> float:
    return lp.stage_metrics("cameras").get(f'pipeline_camera_frames_sent_total{{camera="{camera}"}}', 0.0)


def _pods(p: Platform) -> dict[str, tuple[int | None, int]]:
    return {pod["name"]: (pod["pid"], pod["restarts"]) for pod in p.pods()}


@pytest.fixture(scope="class")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Cameras -> preprocessing -> inference -> sink; class-scoped so it is down before the next one starts."""
    config = "pipeline:\n  enabled: true\n  cameras: 4\n  fps: 10\n"
    with running_platform(tmp_path_factory.mktemp("camera-faults"), config) as p:
        lp = LocalPlatform(p.state_dir)
        wait_for(lambda: all(_sent(lp, c) > 0 for c in range(4)))  # every camera is sending
        yield p


@pytest.fixture(scope="class")
def rollouts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A repository of v1, v2 = a slow model (degrade.py, see `slow_model_factor`), v3 = a copy of v1; the
    platform serves v1."""
    from reference_platform.model.degrade import degrade

    root = tmp_path_factory.mktemp("bad-canary")
    repo = root / "repository"
    assert degrade(repo, "slow", factor=slow_model_factor()) == 2
    assert ModelRepository(repo).register(ONNX_PATH, {"note": "a copy of v1: a healthy release"}) == 3
    with running_platform(root, f"serving:\n  repository: {repo}\n") as p:
        yield p


class _QuietSupervisor(LocalPlatform):
    """Starts rollouts, then stops answering the state polls (a supervisor timeout while the fault watches)."""

    def rollout(self, action: str = "", body: dict[str, Any] | None = None) -> dict[str, Any]:
        if not action and body is None:
            raise PlatformError("simulated: the platform supervisor did not answer")
        return super().rollout(action, body)


class TestCameraFaults:
    def test_a_stalled_camera_stops_sending_and_sends_again_afterwards(self, pipeline: Platform) -> None:
        lp = LocalPlatform(pipeline.state_dir)
        ctx = FaultContext(lp)
        (record,) = CameraFault(stall=[0], duration_s=3).inject(ctx)
        assert record.kind is FaultKind.CAMERA_STALL and record.landed and record.error is None, record
        assert 0 <= record.evidence["sent_camera_0"] <= 1, record.evidence
        assert any(record.evidence[f"sent_camera_{c}"] > 0 for c in (1, 2, 3)), record.evidence
        assert record.recovered_at is not None and record.recovered_at >= record.injected_at + 3
        assert ctx.records == [record]
        assert lp.camera_control({})["stalled"] == []
        resumed = _sent(lp, 0)
        wait_for(lambda: _sent(lp, 0) > resumed + 2, timeout=15)
        assert_nothing_left(pipeline.state_dir)

    def test_corrupted_frames_are_rejected_and_the_ratio_restored(self, pipeline: Platform) -> None:
        lp = LocalPlatform(pipeline.state_dir)
        pods = _pods(pipeline)
        assert any(pod.role == "preprocess" for pod in lp.pods()), pods
        previous = lp.camera_control({})["corrupt_ratio"]
        (record,) = CameraFault(corrupt_ratio=0.3, duration_s=3).inject(FaultContext(lp))
        assert record.kind is FaultKind.CORRUPT_FRAMES and record.landed and record.error is None, record
        assert record.evidence["rejected_by_preprocessing"] > 0 and record.evidence["corrupted_sent"] > 0
        assert record.evidence["settings"] == {"corrupt_ratio": 0.3}
        assert lp.camera_control({})["corrupt_ratio"] == previous
        assert _pods(pipeline) == pods  # preprocessing skipped the bad frames: nothing crashed or restarted
        assert all(pod.ready for pod in lp.pods() if pod.role == "preprocess")
        assert_nothing_left(pipeline.state_dir)


@needs_torch
class TestBadCanary:
    def test_a_slow_canary_is_rolled_back_by_the_platform(self, rollouts: Platform, tmp_path: Path) -> None:
        lp = LocalPlatform(rollouts.state_dir)
        ctx = FaultContext(lp)
        # a replica's start-up on this box today: the canary must start before it can be judged
        cold = max(p["ready_at"] - p["started_at"] for p in rollouts.pods() if p["role"] == "inference")
        gen = start_load(rollouts, tmp_path, rate=60, max_s=120)
        try:
            fault = BadCanary(version=2, weight=20, duration_s=40, max_latency_ratio=2.0)
            (record,) = fault.inject(ctx)
        finally:
            summary = gen.stop()
        ev = record.evidence
        assert record.kind is FaultKind.BAD_CANARY and record.landed and record.error is None, record
        assert ev["final_state"] == "rolled-back" and ev["rolled_back_by_platform"] is True, ev
        assert record.unmet is None  # the platform did what was expected of it
        assert "latency" in ev["reason"], ev
        # start-up, then 20 requests at ~12 req/s and a 1 s analysis tick: seconds, not the fault's 40 s
        assert ev["canary_requests"] > 0 and 0 < ev["time_to_rollback_s"] < 2 * cold + 10, (ev, cold)
        assert record.recovered_at is not None and record.recovered_at >= record.injected_at
        assert lp.rollout()["state"] == "rolled-back"
        pods = rollouts.pods()
        assert [p for p in pods if p["variant"] == "canary" or "canary" in p["name"]] == [], pods
        assert all(p["model_version"] == 1 and p["ready"] for p in pods if p["role"] == "inference"), pods
        assert summary.failures == 0, summary.errors  # users never noticed
        assert_nothing_left(rollouts.state_dir)

    def test_a_canary_the_platform_keeps_is_aborted_by_the_fault(self, rollouts: Platform) -> None:
        lp = LocalPlatform(rollouts.state_dir)
        (record,) = BadCanary(version=3, weight=20, duration_s=4).inject(FaultContext(lp))
        ev = record.evidence
        assert ev["final_state"] == "aborted" and ev["rolled_back_by_platform"] is False, ev
        assert "time_to_rollback_s" not in ev
        # no load ran: the canary served nothing, and the record says so instead of claiming it landed
        assert ev["canary_requests"] == 0 and not record.landed and "served no request" in (record.error or "")
        assert record.unmet is None  # a canary that served nothing gave the platform nothing to judge
        assert lp.rollout()["state"] == "aborted"
        assert [p["name"] for p in rollouts.pods() if p["variant"] == "canary"] == []
        assert_nothing_left(rollouts.state_dir)

    def test_a_bad_canary_interrupted_while_watching_is_undone_or_left_for_recover(self, rollouts: Platform) -> None:
        lp = LocalPlatform(rollouts.state_dir)
        ctx = FaultContext(_QuietSupervisor(rollouts.state_dir))
        try:
            with pytest.raises(PlatformError):
                BadCanary(version=3, weight=20, duration_s=10).inject(ctx)
            state = lp.rollout()["state"]
            assert state not in ("starting", "progressing") or ledger_entries(rollouts.state_dir), (
                f"the canary is still {state} and the ledger holds nothing for `resilience recover` to undo"
            )
        finally:
            recover(Ledger(rollouts.state_dir / "ledger"), lp)
            if lp.rollout()["state"] in ("starting", "progressing"):
                lp.rollout("abort")
        assert_nothing_left(rollouts.state_dir)

    def test_an_unknown_version_is_refused_and_leaves_no_ledger_entry(self, rollouts: Platform) -> None:
        ctx = FaultContext(LocalPlatform(rollouts.state_dir))
        with pytest.raises(ResilienceError, match="version 99 is not in"):
            BadCanary(version=99, weight=20, duration_s=5).inject(ctx)
        assert ledger_entries(rollouts.state_dir) == [] and ctx.records == []
        assert [p["name"] for p in rollouts.pods() if p["variant"] == "canary"] == []

    def test_the_dry_run_refuses_a_version_the_repository_lacks_and_says_how_to_build_it(
        self, rollouts: Platform, tmp_path: Path
    ) -> None:
        versions = LocalPlatform(rollouts.state_dir).model_versions()
        assert versions and 99 not in versions

        def version_99(exp: dict[str, Any]) -> None:
            exp["method"][0]["provider"] = {
                "type": "python",
                "module": "resilience.ctk.actions",
                "func": "rollout_bad_canary",
                "arguments": {"version": 99, "weight": 10, "duration_s": 5},
            }

        result = rollouts.cli("run", "--dry-run", str(short_experiment(tmp_path, version_99)))
        said = " ".join((result.stdout + result.stderr).split())
        assert result.returncode == 3, said
        assert f"model version 99 is not in the platform's model repository (it has {versions})" in said
        assert "reference_platform.model.degrade" in said
        assert ledger_entries(rollouts.state_dir) == []


@needs_onnx
def test_degrade_cli_registers_an_inaccurate_version(tmp_path: Path) -> None:
    repo = tmp_path / "repository"
    result = subprocess.run(
        [sys.executable, "-m", "reference_platform.model.degrade", "--repository", str(repo), "--kind", "inaccurate"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    version = int(result.stdout.strip().splitlines()[-1])
    assert version == 2 and ModelRepository(repo).versions() == [1, 2]
    meta = json.loads((repo / "qc_cnn" / str(version) / "metadata.json").read_text())
    assert meta["degraded"] == "inaccurate" and "never passes the training gate" in meta["note"]
    assert meta["baseline"]["accuracy"] > 0.9
    assert meta["accuracy"] < 0.6 and meta["accuracy"] < meta["baseline"]["accuracy"] - 0.3, meta
