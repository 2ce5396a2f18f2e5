"""A burn-rate probe with nothing to judge fails; it never reads as "within budget" (0.0) during an outage."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from resilience.ctk import probes
from resilience.engine import session
from resilience.engine.session import RunPlan, RunSession
from tests.unit.test_slo_math import P99, make_slice


def _outage_load(now: float, failed: int) -> Any:
    """What the generator hands the probe: 10 one-second slices before `now`, every request failed."""
    slices = [
        replace(make_slice(0, [], failed=failed), index=i, start=now - 10 + i, end=now - 9 + i) for i in range(10)
    ]
    return SimpleNamespace(running=True, wait_until=lambda end: slices, stopped_at=now)


def test_a_latency_burn_rate_probe_fails_during_a_total_outage(tmp_path: Path) -> None:
    now = time.time()
    run = session.begin(
        RunSession(RunPlan(experiment_path=tmp_path / "x.yaml", work_dir=tmp_path, catalogue={P99.name: P99}))
    )
    try:
        run.timeline.phase_started = now - 10
        run.measured.load = _outage_load(now, failed=100)
        with pytest.raises(ActivityFailed, match="no burn rate for latency-p99: no successful requests"):
            probes.slo_burn_rate("latency-p99", window_s=5)
        assert probes.slo_value("latency-p99", window_s=5) == -1.0  # outside any [0, x] range tolerance
    finally:
        session.end()
