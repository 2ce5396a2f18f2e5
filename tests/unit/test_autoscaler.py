from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reference_platform.autoscaler import Observation, decide
from reference_platform.config import AutoscalerConfig

CFG = AutoscalerConfig(enabled=True, min_replicas=1, max_replicas=3, target_ms=10, scale_down_after_s=15)


def test_scales_up_when_slow_or_queued_and_never_past_max() -> None:
    assert decide(Observation(1, 12.0, 0, 0), CFG) == 1
    assert decide(Observation(1, 3.0, 5, 0), CFG) == 1
    assert decide(Observation(3, 50.0, 9, 0), CFG) == 0


def test_scales_down_only_after_a_sustained_quiet_spell_and_never_below_min() -> None:
    assert decide(Observation(2, 3.0, 0, 14.9), CFG) == 0
    assert decide(Observation(2, 3.0, 0, 15.0), CFG) == -1
    assert decide(Observation(1, 0.0, 0, 60.0), CFG) == 0
    assert decide(Observation(2, 7.0, 0, 60.0), CFG) == 0  # under target but not under half: hold


@given(st.integers(1, 3), st.floats(0, 100), st.integers(0, 50), st.floats(0, 100))
def test_decisions_keep_replicas_within_bounds(replicas: int, rtime: float, queued: int, low_for: float) -> None:
    step = decide(Observation(replicas, rtime, queued, low_for), CFG)
    assert step in (-1, 0, 1)
    assert CFG.min_replicas <= replicas + step <= CFG.max_replicas
