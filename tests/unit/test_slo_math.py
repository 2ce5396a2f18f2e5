"""Property-based and example tests of the SLO math (histograms, windows, evaluation)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.model import Slice, SLIKind, SLOSpec, Verdict
from resilience.slo import Histogram, evaluate, merge_latency, window

latencies = st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=300)


def make_slice(index: int, latencies_us: list[int], failed: int = 0, width: float = 1.0) -> Slice:
    h = Histogram()
    for v in latencies_us:
        h.record(v)
    return Slice(
        index=index,
        start=index * width,
        end=(index + 1) * width,
        ok=len(latencies_us),
        failed=failed,
        latency_hdr=h.encode(),
        lag_hdr=b"",
    )


@given(latencies, st.floats(min_value=0.1, max_value=100), st.floats(min_value=0.1, max_value=100))
def test_percentiles_are_monotone_in_q(values: list[int], q1: float, q2: float) -> None:
    h = Histogram()
    for v in values:
        h.record(v)
    lo, hi = sorted((q1, q2))
    assert h.percentile_ms(lo) <= h.percentile_ms(hi)  # type: ignore[operator]


@given(st.lists(latencies, min_size=1, max_size=6))
@settings(max_examples=50)
def test_merging_slices_equals_recording_everything_in_one_histogram(groups: list[list[int]]) -> None:
    merged = merge_latency([make_slice(i, g) for i, g in enumerate(groups)])
    single = Histogram()
    for g in groups:
        for v in g:
            single.record(v)
    assert merged.count == single.count
    for q in (50, 90, 99, 99.9, 100):
        assert merged.percentile_ms(q) == single.percentile_ms(q)


@given(latencies, latencies, latencies)
@settings(max_examples=30)
def test_merge_is_associative(a: list[int], b: list[int], c: list[int]) -> None:
    sa, sb, sc = make_slice(0, a), make_slice(1, b), make_slice(2, c)
    left = merge_latency([sa, sb])
    left_then_c = Histogram.decode(left.encode())
    left_then_c.add_encoded(sc.latency_hdr)
    right = Histogram.decode(sb.latency_hdr)
    right.add_encoded(sc.latency_hdr)
    a_then_right = Histogram.decode(sa.latency_hdr)
    a_then_right.add(right)
    for q in (50, 99, 100):
        assert left_then_c.percentile_ms(q) == a_then_right.percentile_ms(q)


def test_percentile_matches_exact_value_to_hdr_precision() -> None:
    values = list(range(1000, 101_000, 100))  # 1 ms .. 101 ms, uniform
    h = Histogram()
    for v in values:
        h.record(v)
    exact_p99 = sorted(values)[math.ceil(0.99 * len(values)) - 1] / 1000
    assert h.percentile_ms(99) == pytest.approx(exact_p99, rel=1e-3)


def test_values_beyond_the_range_are_clamped_not_dropped() -> None:
    h = Histogram()
    h.record(10**12)
    assert h.count == 1
    assert h.percentile_ms(100) == pytest.approx(60_000, rel=1e-3)


def test_count_above_bound() -> None:
    h = Histogram()
    for v in [1_000] * 95 + [20_000] * 5:
        h.record(v)
    assert h.count_above_ms(15) == 5
    assert h.count_above_ms(25) == 0


AVAIL = SLOSpec(name="availability", sli=SLIKind.AVAILABILITY, objective=0.999)
P99 = SLOSpec(name="latency-p99", sli=SLIKind.LATENCY, percentile=99, objective=15)


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=10_000))
def test_availability_is_a_ratio_in_unit_interval(ok: int, failed: int) -> None:
    s = Slice(index=0, start=0, end=1, ok=ok, failed=failed, latency_hdr=b"", lag_hdr=b"")
    r = evaluate(AVAIL, [s])
    if ok + failed == 0:
        assert r.verdict is Verdict.INCONCLUSIVE and r.measured is None
    else:
        assert r.measured is not None and 0.0 <= r.measured <= 1.0
        assert r.samples == ok + failed
        assert (r.verdict is Verdict.PASS) == (ok / (ok + failed) >= 0.999)


def test_one_failure_in_a_thousand_meets_999_two_do_not() -> None:
    assert evaluate(AVAIL, [make_slice(0, [1000] * 999, failed=1)]).verdict is Verdict.PASS
    assert evaluate(AVAIL, [make_slice(0, [1000] * 998, failed=2)]).verdict is Verdict.FAIL


def test_latency_slo_fails_when_more_than_one_percent_is_slow() -> None:
    fast, slow = [2_000] * 985, [40_000] * 15
    r = evaluate(P99, [make_slice(0, fast + slow)])
    assert r.verdict is Verdict.FAIL
    assert r.measured == pytest.approx(40.0, rel=1e-2)
    assert "15 of 1000" in r.detail
    assert evaluate(P99, [make_slice(0, fast + slow[:5])]).verdict is Verdict.PASS


def test_a_latency_slo_judged_alone_counts_failed_requests_as_too_slow() -> None:
    """An outage that leaves a few fast successes must not pass a latency SLO when nothing judges availability."""
    from resilience.slo import evaluate_all

    outage = [make_slice(0, [2_000] * 50, failed=950)]
    assert evaluate(P99, outage).verdict is Verdict.PASS  # the successes alone: 50 fast ones
    (alone,) = evaluate_all([P99], outage)
    assert alone.verdict is Verdict.FAIL and alone.samples == 1000 and alone.bad == 950
    assert "950 failed requests counted as over it" in alone.detail
    both = evaluate_all([AVAIL, P99], outage)
    assert [r.verdict for r in both] == [Verdict.FAIL, Verdict.PASS]  # availability judges the failures
    healthy = [make_slice(0, [2_000] * 999, failed=1)]  # 0.1% failed: within p99 either way
    assert evaluate_all([P99], healthy)[0].verdict is Verdict.PASS


def test_no_samples_is_inconclusive_never_pass() -> None:
    assert evaluate(P99, []).verdict is Verdict.INCONCLUSIVE
    assert evaluate(P99, [make_slice(0, [], failed=3)]).verdict is Verdict.INCONCLUSIVE


def test_window_keeps_only_whole_slices_inside() -> None:
    slices = [make_slice(i, [1000], width=0.25) for i in range(8)]  # 0.0 .. 2.0 s
    inside = window(slices, 0.5, 1.5)
    assert [s.index for s in inside] == [2, 3, 4, 5]
    assert window(slices, None, None) == slices


def test_percentiles_are_not_averaged_across_slices() -> None:
    # one calm slice and one with a stall: the p99 of the whole is the stall, not the mean of the two p99s
    calm = make_slice(0, [1_000] * 990)
    stalled = make_slice(1, [1_000] * 10 + [500_000] * 20)
    r = evaluate(P99, [calm, stalled])
    assert r.measured == pytest.approx(500.0, rel=1e-2)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=70_000_000), min_size=1, max_size=300),
    bound_ms=st.floats(min_value=0, max_value=70_000, allow_nan=False),
)
def test_count_above_matches_hdrs_own_recorded_iterator(values: list[int], bound_ms: float) -> None:
    """The numpy sum over the counts array agrees with walking HDR's iterator (the reference, ~100x slower)."""
    h = Histogram()
    for v in values:
        h.record(v)
    bound_us = int(bound_ms * 1000)
    below = sum(
        int(item.count_added_in_this_iter_step)
        for item in h.hdr.get_recorded_iterator()
        if item.value_iterated_to <= bound_us
    )
    assert h.count_above_ms(bound_ms) == h.count - below
