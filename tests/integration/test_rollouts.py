"""Canary rollouts for real: a slow model version is rolled back automatically, a good one promoted."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reference_platform.model import REPOSITORY
from resilience.load import LoadGenerator
from tests.integration.conftest import Platform, running_platform, slow_model_factor, start_load

pytestmark = pytest.mark.integration
torch = pytest.importorskip("torch", reason="building the slow model version needs the `train` extra")


def _slow_version(folder: Path) -> None:
    """A deliberately slow model version (see `slow_model_factor`)."""
    from reference_platform.model.degrade import build_slow

    folder.mkdir(parents=True)
    build_slow(folder, slow_model_factor())
    (folder / "metadata.json").write_text('{"note": "deliberately slow"}')


@pytest.fixture(scope="module")
def rollout_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("rollouts")
    repo = root / "repository"
    shutil.copytree(REPOSITORY, repo)
    _slow_version(repo / "qc_cnn" / "2")
    shutil.copytree(repo / "qc_cnn" / "1", repo / "qc_cnn" / "3")  # same model as v1: a healthy release
    with running_platform(root, f"serving:\n  repository: {repo}\n") as p:
        yield p


def _rollout(p: Platform) -> dict[str, Any]:
    import httpx

    state: dict[str, Any] = httpx.get(p.state["control_url"] + "/rollout", timeout=5).json()
    return state


def _load(p: Platform, tmp_path: Path) -> LoadGenerator:
    return start_load(p, tmp_path)


@pytest.fixture(autouse=True)
def _no_rollout_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that fails mid-rollout aborts it, so the next test fails (or passes) on its own account."""
    yield
    if "rollout_platform" in request.fixturenames:
        p: Platform = request.getfixturevalue("rollout_platform")
        if _rollout(p)["state"] in ("starting", "progressing"):
            p.cli("platform", "deploy", "--abort")


def test_a_slow_canary_is_rolled_back_automatically(rollout_platform: Platform, tmp_path: Path) -> None:
    gen = _load(rollout_platform, tmp_path)
    try:
        deploy = rollout_platform.cli(
            "platform", "deploy", "--version", "2", "--weight", "20", "--max-latency-ratio", "1.5"
        )
        assert deploy.returncode == 0, deploy.stderr
        deadline = time.monotonic() + 60
        while _rollout(rollout_platform)["state"] in ("starting", "progressing") and time.monotonic() < deadline:
            time.sleep(0.5)
        state = _rollout(rollout_platform)
    finally:
        summary = gen.stop()
    assert state["state"] == "rolled-back", state
    assert "latency" in state["reason"]
    seen = state["canary"]["a-canary"]
    assert seen["requests"] >= 20 and seen["rtime_ms"] > 1.5 * seen["stable_rtime_ms"]
    pods = rollout_platform.pods()
    assert [p["name"] for p in pods] == ["a-0", "a-1"] and all(p["model_version"] == 1 for p in pods)
    assert summary.failures == 0, summary.errors  # users never noticed


def test_a_healthy_canary_is_promoted_with_a_rolling_update(rollout_platform: Platform, tmp_path: Path) -> None:
    gen = _load(rollout_platform, tmp_path)
    try:
        # an identical model at 20% weight measured 12-14 ms vs the stables' 5 ms on a slow box with a busy core
        # (fewer requests, more wake-ups): this test is about promotion; detection is the slow-canary test's
        deploy = rollout_platform.cli(
            "platform", "deploy", "--version", "3", "--weight", "20", "--max-latency-ratio", "5"
        )
        assert deploy.returncode == 0, deploy.stderr
        deadline = time.monotonic() + 60
        while _rollout(rollout_platform)["state"] == "starting" and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # let it serve
        assert _rollout(rollout_platform)["state"] == "progressing", _rollout(rollout_platform)
        assert _rollout(rollout_platform)["canary"]["a-canary"]["requests"] > 0
        promote = rollout_platform.cli("platform", "deploy", "--promote")
        assert promote.returncode == 0 and "promoted" in promote.stderr, (promote.stderr, _rollout(rollout_platform))
    finally:
        summary = gen.stop()
    pods = rollout_platform.pods()
    assert [p["name"] for p in pods] == ["a-0", "a-1"]
    assert all(p["model_version"] == 3 and p["ready"] and p["last_exit"]["reason"] == "rollout to v3" for p in pods)
    assert summary.failures == 0, summary.errors  # a rolling update drains each replica first


def test_bad_rollout_requests_are_refused_with_the_reason(rollout_platform: Platform) -> None:
    missing = rollout_platform.cli("platform", "deploy", "--version", "9")
    assert missing.returncode == 2 and "version 9 is not in" in missing.stderr
    nothing = rollout_platform.cli("platform", "deploy", "--promote")
    assert nothing.returncode == 2 and "cannot promote" in nothing.stderr


def _wait_state(p: Platform, leave: tuple[str, ...], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while _rollout(p)["state"] in leave and time.monotonic() < deadline:
        time.sleep(0.2)
    return _rollout(p)


def test_blue_green_switches_all_traffic_at_once_and_promotes(rollout_platform: Platform, tmp_path: Path) -> None:
    before = {p["name"] for p in rollout_platform.pods()}
    version = max(p["model_version"] for p in rollout_platform.pods())
    target = 1 if version != 1 else 3  # a healthy version other than what runs now
    gen = _load(rollout_platform, tmp_path)
    try:
        assert (
            rollout_platform.cli("platform", "deploy", "--strategy", "blue-green", "--version", str(target)).returncode
            == 0
        )
        state = _wait_state(rollout_platform, ("starting",))
        assert state["state"] == "switched", state
        time.sleep(1.5)
        served = rollout_platform.served()
        time.sleep(2)
        after = rollout_platform.served()
        moved = {n: after[n] - served.get(n, 0) for n in after}
        old = {n for n in moved if n in before}
        new = {p["name"] for p in rollout_platform.pods()} - before
        assert len(new) == len(before) and all(moved[n] == 0 for n in old) and all(moved[n] > 0 for n in new)
        promote = rollout_platform.cli("platform", "deploy", "--promote")
        assert promote.returncode == 0 and "promoted" in promote.stderr, promote.stderr
    finally:
        summary = gen.stop()
    pods = rollout_platform.pods()
    assert {p["name"] for p in pods} == new and all(p["model_version"] == target for p in pods)
    assert summary.failures == 0, summary.errors


def test_blue_green_switches_back_when_green_is_slow(rollout_platform: Platform, tmp_path: Path) -> None:
    before = {(p["name"], p["model_version"]) for p in rollout_platform.pods()}
    # 40 req/s: all of it lands on green, whose model costs 8x; at 100 req/s a slow box with a busy core cannot
    # serve that at all, and green is switched back for failures before its latency is judged
    gen = start_load(rollout_platform, tmp_path, rate=40)
    try:
        assert (
            rollout_platform.cli(
                "platform", "deploy", "--strategy", "blue-green", "--version", "2", "--max-latency-ratio", "1.5"
            ).returncode
            == 0
        )
        state = _wait_state(rollout_platform, ("starting", "switched"))
    finally:
        summary = gen.stop()
    assert state["state"] == "rolled-back" and "latency" in state["reason"], state
    assert {(p["name"], p["model_version"]) for p in rollout_platform.pods()} == before
    assert summary.failures == 0, summary.errors
