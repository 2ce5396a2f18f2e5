"""Capacity search: how a rung is judged, where the capacity lies, and which stored result is current."""

from __future__ import annotations

from pathlib import Path

from resilience.engine import capacity
from resilience.model.capacity import Capacity, CapacityStep
from tests.unit.test_slo_math import make_slice


def _step(rate: float, holds: bool) -> CapacityStep:
    return CapacityStep(
        rate=rate,
        requests=100,
        failed=0,
        achieved_rps=rate,
        p50_ms=1.0,
        latency_ms=2.0,
        lag_p99_ms=0.5,
        holds=holds,
    )


def test_a_rung_holds_only_within_the_objective_without_errors_and_at_its_rate() -> None:
    fast = [make_slice(i, [3_000] * 99 + [14_000]) for i in range(5)]  # 100 req/s, p99 3 ms
    ok = capacity.judge_step(100, fast, 99, 15, 0.001, 5.0)
    assert ok.holds and ok.requests == 500 and ok.achieved_rps == 100.0
    assert ok.latency_ms is not None and 2.9 < ok.latency_ms < 3.1

    slow = [make_slice(i, [3_000] * 97 + [20_000] * 3) for i in range(5)]  # p99 20 ms
    assert not capacity.judge_step(100, slow, 99, 15, 0.001, 5.0).holds

    lossy = [make_slice(i, [3_000] * 100, failed=1 if i == 0 else 0) for i in range(5)]  # 1 of 501 failed
    assert not capacity.judge_step(100, lossy, 99, 15, 0.001, 5.0).holds

    undersent = [make_slice(i, [3_000] * 80) for i in range(5)]  # 80 req/s of the 100 asked for
    assert not capacity.judge_step(100, undersent, 99, 15, 0.001, 5.0).holds
    assert not capacity.judge_step(100, [], 99, 15, 0.001, 5.0).holds  # nothing measured never holds


def test_capacity_is_the_last_rate_of_the_unbroken_run_from_the_first() -> None:
    def cap(*holds: bool) -> Capacity:
        steps = [_step(r, h) for r, h in zip((25.0, 50.0, 75.0, 100.0), holds, strict=False)]
        return Capacity(target="x", objective_ms=15, max_error_ratio=0.001, step_s=5, measured_at=0, steps=steps)

    assert (cap(True, True, False).held_rps, cap(True, True, False).breached_rps) == (50.0, 75.0)
    assert cap(True, False, True).held_rps == 25.0  # a later lucky rung does not count
    assert cap(False, True).held_rps is None
    assert cap(True, True, True, True).breached_rps is None


def test_a_stored_capacity_belongs_to_one_platform_instance(tmp_path: Path) -> None:
    result = Capacity(
        target="127.0.0.1:1",
        platform_id="abc",
        objective_ms=15,
        max_error_ratio=0.001,
        step_s=5,
        measured_at=1.0,
        steps=[_step(25, True), _step(50, False)],
    )
    capacity.save(tmp_path, result)
    assert capacity.last(tmp_path, "abc") == result
    assert capacity.last(tmp_path, "another") is None  # a restarted platform has not been measured
    (tmp_path / capacity.CAPACITY_FILE).write_text("{not json")
    assert capacity.last(tmp_path, "abc") is None
