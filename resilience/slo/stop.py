"""Stop conditions, checked slice by slice while the method runs: pure, the caller supplies the slices."""

from __future__ import annotations

from collections.abc import Sequence

from resilience.model import Slice, SLOSpec, StopCondition
from resilience.slo.budget import budget, burn
from resilience.slo.evaluate import slice_counts


def tripped(condition: StopCondition, spec: SLOSpec, slices: Sequence[Slice]) -> str | None:
    """Why the condition holds over these slices (measured from the warm-up's end), or None."""
    if not slices:
        return None
    counts = slice_counts(spec, slices)
    if condition.budget_consumed_above is not None:
        spent = budget(counts, spec.target_ratio).consumed
        if spent > condition.budget_consumed_above:
            return f"{spec.name}: {spent:.0%} of the error budget spent > {condition.budget_consumed_above:.0%}"
        return None
    assert condition.burn_rate_above is not None
    end = counts[-1].end
    recent = [c for c in counts if c.start >= end - condition.window_s - 1e-9]
    rate = burn(recent, spec.target_ratio)
    if rate > condition.burn_rate_above:
        return f"{spec.name}: burn rate {rate:.1f}x over the last {condition.window_s:g} s > {condition.burn_rate_above:g}x"
    return None
