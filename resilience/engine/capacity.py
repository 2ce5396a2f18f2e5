"""Capacity search: the highest Poisson rate at which a target holds a latency objective, on this box, now.

One open-loop generator steps its rate up through a geometric ladder (`RATES`), at least `step_s` seconds a
rung and long enough for `min_samples` requests (a p99 from 100 requests is the second-worst one: noise);
each rung is judged from the requests whose intended send time fell after its first `settle_s` seconds
(so the backlog of a rate change does not count against the next rung), and the search stops at
the first rung that breaks the objective, loses more than `max_error_ratio` of its requests, or was not
really sent (achieved rate under 90% of the target: the generator was the limit, not the platform).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from resilience.load import LoadGenerator, LoadSpec
from resilience.load.spec import Arrival, Shape
from resilience.model.capacity import Capacity, CapacityStep
from resilience.model.histogram import merge_lag, merge_latency
from resilience.model.measure import Slice

log = logging.getLogger(__name__)

RATES = (50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 400.0, 600.0, 800.0, 1200.0, 1600.0)
"""The ladder, req/s: ~1.5x a rung, so the answer is within 50% below the true capacity at worst."""


CAPACITY_FILE = "capacity.json"
"""Where `resilience platform capacity` keeps its last result, in the platform's state dir."""


def save(state_dir: Path, capacity: Capacity) -> Path:
    path = state_dir / CAPACITY_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(capacity.model_dump_json(indent=2))
    tmp.replace(path)
    return path


def last(state_dir: Path, platform_id: str | None) -> Capacity | None:
    """The last capacity measured for this platform instance, if any (another instance's is stale)."""
    try:
        capacity = Capacity.model_validate_json((state_dir / CAPACITY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return capacity if capacity.platform_id == platform_id else None


def judge_step(
    rate: float, slices: list[Slice], percentile: float, objective_ms: float, max_error_ratio: float, window_s: float
) -> CapacityStep:
    """One rung's figures and whether it held, from the slices of its judged window."""
    requests = sum(s.total for s in slices)
    failed = sum(s.failed for s in slices)
    latency = merge_latency(slices)
    at = latency.percentile_ms(percentile)
    achieved = requests / window_s if window_s > 0 else 0.0
    holds = (
        requests > 0
        and at is not None
        and at <= objective_ms
        and failed <= max_error_ratio * requests
        and achieved >= 0.9 * rate
    )
    return CapacityStep(
        rate=rate,
        requests=requests,
        failed=failed,
        achieved_rps=round(achieved, 1),
        p50_ms=latency.percentile_ms(50),
        latency_ms=at,
        lag_p99_ms=merge_lag(slices).percentile_ms(99),
        holds=holds,
    )


def measure_capacity(
    *,
    target: str,
    model: str,
    input_name: str,
    payload: Path,
    objective_ms: float,
    work_dir: Path,
    percentile: float = 99.0,
    rates: tuple[float, ...] = RATES,
    step_s: float = 5.0,
    settle_s: float = 1.0,
    max_error_ratio: float = 0.001,
    min_samples: int = 500,
    on_step: Callable[[CapacityStep], None] | None = None,
    platform_id: str | None = None,
) -> Capacity:
    """Climb `rates` against `target` until a rung breaks `percentile` <= `objective_ms`; return every rung."""
    warmup = 1.0
    durations = [max(step_s, settle_s + min_samples / rate) for rate in rates]
    starts = [warmup + sum(durations[:i]) for i in range(len(rates))]
    spec = LoadSpec.model_validate(
        {
            "rate": rates[0],
            "arrival": Arrival.POISSON,
            "shape": Shape.STEP,
            "steps": list(zip(starts, rates, strict=True)),
            "warmup_s": warmup,
            "max_duration_s": starts[-1] + durations[-1] + 10,
            "timeout_s": 2.0,
            "concurrency": 256,
        }
    )
    gen = LoadGenerator(
        spec, target=target, payload=payload, model=model, input_name=input_name, log_path=work_dir / "capacity.log"
    )
    steps: list[CapacityStep] = []
    gen.start()
    try:
        t0 = gen.started_at or time.time()
        for i, rate in enumerate(rates):
            lo, hi = t0 + starts[i] + settle_s, t0 + starts[i] + durations[i]
            slices = [s for s in gen.wait_until(hi) if lo <= s.start < hi]
            step = judge_step(rate, slices, percentile, objective_ms, max_error_ratio, hi - lo)
            steps.append(step)
            log.info("capacity: %.0f req/s -> %s ms, %d failed (%s)", rate, step.latency_ms, step.failed, step.holds)
            if on_step is not None:
                on_step(step)
            if not step.holds:
                break
    finally:
        gen.stop()
    return Capacity(
        target=target,
        platform_id=platform_id,
        percentile=percentile,
        objective_ms=objective_ms,
        max_error_ratio=max_error_ratio,
        step_s=step_s,
        measured_at=time.time(),
        steps=steps,
    )
