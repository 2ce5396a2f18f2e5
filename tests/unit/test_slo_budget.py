"""Error budgets, burn-rate alerts, detection/recovery times and confidence: properties and anchors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.model import SLIKind, SLOSpec, Verdict
from resilience.slo.budget import (
    BurnRule,
    Counts,
    alerts,
    budget,
    burn,
    scaled_rules,
    time_to_recover,
    timeslice_budget,
)
from resilience.slo.evaluate import evaluate
from resilience.slo.stats import binomial_cdf, confidence, samples_needed
from tests.unit.test_slo_math import make_slice

series = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=60).map(
    lambda pairs: [Counts(i * 0.25, (i + 1) * 0.25, min(b, t), t) for i, (b, t) in enumerate(pairs)]
)
objectives = st.sampled_from([0.9, 0.99, 0.995, 0.999])


def test_mlperf_early_stopping_anchors() -> None:
    """MLPerf: a p99 claim at 99% confidence needs 459 queries with 0 over the bound, 662 with 1, 838 with 2."""
    assert [samples_needed(0.01, bad, 0.99) for bad in (0, 1, 2)] == [459, 662, 838]
    assert confidence(459, 0, 0.01) >= 0.99 > confidence(458, 0, 0.01)


@given(st.integers(1, 3000), st.integers(0, 40), st.sampled_from([0.001, 0.01, 0.05]))
@settings(max_examples=80)
def test_confidence_falls_with_more_bad_and_rises_with_more_samples(n: int, bad: int, tail: float) -> None:
    bad = min(bad, n)
    assert 0.0 <= confidence(n, bad, tail) <= 1.0
    # 1 - CDF in floating point: near 0 the rounding of the CDF (~1e-16 relative) dominates
    if bad + 1 <= n:
        assert confidence(n, bad + 1, tail) <= confidence(n, bad, tail) + 1e-9
    assert confidence(n + 1, bad, tail) >= confidence(n, bad, tail) - 1e-9


def test_binomial_cdf_matches_a_direct_sum() -> None:
    from math import comb

    n, p = 40, 0.1
    for k in (0, 3, 10, 40):
        direct = sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
        assert binomial_cdf(k, n, p) == pytest.approx(direct, rel=1e-9)


@given(series, objectives)
def test_budget_consumed_stays_in_0_1_and_burn_is_its_rate(counts: list[Counts], objective: float) -> None:
    b = budget(counts, objective)
    assert 0.0 <= b.consumed <= 1.0
    if b.total:
        assert b.burn_rate == pytest.approx(burn(counts, objective))
        assert (b.consumed == 1.0) == (b.bad >= b.allowed_bad and b.bad > 0)
    t = timeslice_budget(counts, objective, 0.99)
    assert 0.0 <= t.consumed <= 1.0 and t.total == len(counts)


def test_budget_accounting_against_known_downtime() -> None:
    """60 s at 100 req/s, 99.9% objective; 3 s of total outage = 300 bad of 6000: 5x the budget of 6."""
    counts = [Counts(i, i + 1, 100 if 20 <= i < 23 else 0, 100) for i in range(60)]
    b = budget(counts, 0.999)
    assert b.allowed_bad == pytest.approx(6.0) and b.bad == 300
    assert b.consumed == 1.0 and b.burn_rate == pytest.approx(50.0)
    one = [Counts(i, i + 1, 3 if i == 5 else 0, 100) for i in range(60)]
    assert budget(one, 0.999).consumed == pytest.approx(0.5)  # 3 bad of 6 allowed


@given(series, objectives)
@settings(max_examples=60)
def test_alerts_fire_exactly_when_both_windows_burn(counts: list[Counts], objective: float) -> None:
    rule = BurnRule("r", 2.0, 2.0, 0.5)
    fired = {a.at for a in alerts(counts, objective, [rule])}
    firing_before = False
    for i, c in enumerate(counts):
        longw = [x for x in counts[: i + 1] if c.end - x.start <= 2.0 + 1e-9] or [c]
        shortw = [x for x in counts[: i + 1] if c.end - x.start <= 0.5 + 1e-9] or [c]
        now = burn(longw, objective) >= 2.0 and burn(shortw, objective) >= 2.0
        assert (c.end in fired) == (now and not firing_before)
        firing_before = now


def test_scaled_workbook_rules_keep_the_12_to_1_ratio() -> None:
    rules = {r.name: r for r in scaled_rules()}
    assert rules["page-fast"].factor == 14.4 and rules["page-fast"].long_s == pytest.approx(5.0)
    assert all(r.long_s / r.short_s == pytest.approx(12.0) for r in rules.values())


def test_time_to_recover_needs_a_sustained_good_stretch() -> None:
    bad = [0] * 4 + [10, 10, 0, 10] + [0] * 12  # 0.25 s slices: a relapse at slice 7
    counts = [Counts(i * 0.25, (i + 1) * 0.25, b, 10) for i, b in enumerate(bad)]
    assert time_to_recover(counts, 0.99, since=1.0, sustain_s=1.0) == pytest.approx(1.0)  # from slice 8
    assert time_to_recover(counts, 0.99, since=1.0, sustain_s=10.0) is None


def _run(bad_from: int, bad_to: int, n: int = 80, per: int = 25, slow_us: int = 50_000) -> list:  # type: ignore[type-arg]
    """0.25 s slices of `per` requests at 2 ms, except [bad_from, bad_to) at `slow_us`."""
    return [make_slice(i, [slow_us if bad_from <= i < bad_to else 2_000] * per, width=0.25) for i in range(n)]


P99 = SLOSpec(name="p99", sli=SLIKind.LATENCY, percentile=99, objective=15)


def test_detection_and_recovery_of_a_5x_slowdown() -> None:
    slices = _run(40, 48)  # slow from t=10 s to t=12 s
    r = evaluate(P99, slices, faults=[10.0], judge_confidence=True)
    assert r.verdict is Verdict.FAIL
    # the 5 s long window must burn 14.4x too: 100% bad for 3 slices of 0.25 s -> 0.75 s (target: <= 1 s)
    assert r.time_to_detect_s is not None and r.time_to_detect_s <= 1.0
    assert r.time_to_recover_s == pytest.approx(2.0)  # back within objective at 12 s, sustained
    assert any(a.startswith("page-fast") for a in r.alerts)


def test_time_to_detect_is_also_given_when_the_toolkit_held_the_slice_that_paged() -> None:
    """Intended-send-time TTD says when the bad requests were sent; the wall-clock one when anyone could know."""
    from dataclasses import replace

    # slow requests answer 2 s late: each slice is held 2 s after its end (a timeout would be the same)
    slices = [replace(s, received_at=s.end + 2.0) for s in _run(40, 48)]
    r = evaluate(P99, slices, faults=[10.0], judge_confidence=True)
    assert r.time_to_detect_s is not None and r.time_to_detect_wall_s == pytest.approx(r.time_to_detect_s + 2.0)
    assert r.detect_text == f"{r.time_to_detect_s:.2f} s (held {r.time_to_detect_wall_s:.2f} s)"
    assert evaluate(P99, _run(40, 48), faults=[10.0]).time_to_detect_wall_s is None  # not known: not invented


def test_a_fault_free_run_raises_no_alert_and_passes_with_confidence() -> None:
    r = evaluate(P99, _run(0, 0), faults=[10.0], judge_confidence=True)
    assert r.verdict is Verdict.PASS and r.alerts == () and r.time_to_detect_s is None
    assert r.time_to_recover_s == 0.0 and r.budget_consumed == 0.0 and r.confidence and r.confidence > 0.99


def test_too_few_samples_is_inconclusive_not_a_pass() -> None:
    few = _run(0, 0, n=4, per=25)  # 100 requests, none slow: a p99 claim needs 459
    r = evaluate(P99, few, judge_confidence=True)
    assert r.verdict is Verdict.INCONCLUSIVE and r.needed_samples == 459
    assert "confidence" in r.detail
    assert evaluate(P99, few).verdict is Verdict.PASS  # probes judge the point estimate


def test_timeslices_budgeting_counts_bad_slices() -> None:
    spec = SLOSpec(
        name="uptime", sli=SLIKind.AVAILABILITY, objective=0.99, budgeting="timeslices", timeslice_target=0.95
    )
    slices = [make_slice(i, [1000] * 10, failed=10 if i < 2 else 0, width=0.25) for i in range(40)]
    r = evaluate(spec, slices)
    assert r.uptime == pytest.approx(38 / 40) and r.verdict is Verdict.PASS
    assert "2 of 40 slices bad" in r.detail
