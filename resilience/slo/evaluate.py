"""Evaluate SLO specs over a window of slices: the point estimate, its confidence, budget, burn, TTD, TTR."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resilience.model import Budgeting, Slice, SLIKind, SLOResult, SLOSpec, TimePoint, Verdict
from resilience.model.histogram import Histogram, merge_latency
from resilience.slo.budget import (
    Alert,
    Budget,
    Counts,
    alerts,
    budget,
    scaled_rules,
    time_to_recover,
    timeslice_budget,
)
from resilience.slo.stats import confidence, samples_needed

RECOVERY_SUSTAIN_S = 2.0
"""The SLI must stay within objective this long to count as recovered."""


def window(slices: Iterable[Slice], start: float | None = None, end: float | None = None) -> list[Slice]:
    """The slices that lie wholly inside [start, end] (either bound may be open)."""
    return [s for s in slices if (start is None or s.start >= start - 1e-9) and (end is None or s.end <= end + 1e-9)]


def slice_counts(spec: SLOSpec, slices: Sequence[Slice], count_failed: bool = False) -> list[Counts]:
    """Bad and total events per slice: failed requests, or successful ones slower than the latency bound
    (with `count_failed`, failed requests are latency events too, and bad ones)."""
    if spec.sli is SLIKind.AVAILABILITY:
        return [Counts(s.start, s.end, s.failed, s.total) for s in slices]
    counts = []
    for s in slices:
        hist = Histogram.decode(s.latency_hdr)
        extra = s.failed if count_failed else 0
        counts.append(Counts(s.start, s.end, hist.count_above_ms(spec.objective) + extra, hist.count + extra))
    return counts


def _point(spec: SLOSpec, slices: Sequence[Slice], count_failed: bool = False) -> tuple[float | None, int, str]:
    """The measured value (ratio or ms), how many events it rests on, and a one-line detail."""
    if spec.sli is SLIKind.AVAILABILITY:
        ok, total = sum(s.ok for s in slices), sum(s.total for s in slices)
        return (ok / total if total else None), total, f"{total - ok} of {total} requests failed"
    assert spec.percentile is not None  # guaranteed by SLOSpec validation
    hist = merge_latency(slices)
    above = hist.count_above_ms(spec.objective) if hist.count else 0
    detail = f"{above} of {hist.count} successful requests over {spec.objective:g} ms"
    if not count_failed:
        return hist.percentile_ms(spec.percentile), hist.count, detail
    failed = sum(s.failed for s in slices)
    detail += f", and {failed} failed requests counted as over it (no availability SLO judges them)"
    return hist.percentile_ms(spec.percentile), hist.count + failed, detail


@dataclass(frozen=True, slots=True)
class _Judged:
    """Whether the objective was met over the window, and the events its confidence rests on."""

    met: bool
    spent: Budget
    uptime: float | None
    """The share of good slices (timeslice budgeting only)."""
    tail: float
    """The bad share the objective allows."""
    detail: str


def _judge(spec: SLOSpec, counts: Sequence[Counts], measured: float, count_failed: bool, detail: str) -> _Judged:
    """Judge the objective by its budgeting: good slices (timeslices) or the measured value (occurrences)."""
    target = spec.target_ratio
    if spec.budgeting is Budgeting.TIMESLICES:
        uptime_target = spec.timeslice_target or target
        spent = timeslice_budget(counts, uptime_target, target)
        uptime = 1 - spent.bad / spent.total if spent.total else None
        met = uptime is not None and uptime >= uptime_target
        detail += f"; {spent.bad} of {spent.total} slices bad (uptime {uptime or 0:.2%})"
        return _Judged(met, spent, uptime, 1 - uptime_target, detail)
    spent = budget(counts, target)
    met = measured >= spec.objective if spec.sli is SLIKind.AVAILABILITY else measured <= spec.objective
    if count_failed:  # the percentile of the successes holds, and so must the share of all requests
        met = met and spent.bad <= (1 - target) * spent.total
    return _Judged(met, spent, None, 1 - target, detail)


def _verdict(spec: SLOSpec, judged: _Judged, judge_confidence: bool) -> tuple[Verdict, float, int | None, str]:
    """PASS or FAIL by the objective, with its confidence; with `judge_confidence`, a pass the samples do not
    support at `spec.confidence` is INCONCLUSIVE, with the samples it would need and why in the detail."""
    n, bad, tail = judged.spent.total, judged.spent.bad, judged.tail
    conf = confidence(n, bad, tail)
    if not (judged.met and judge_confidence and spec.confidence > 0 and conf < spec.confidence):
        return (Verdict.PASS if judged.met else Verdict.FAIL), conf, None, judged.detail
    needed = samples_needed(tail, bad, spec.confidence)
    detail = judged.detail + (
        f"; too few samples to support it: confidence {conf:.1%} < {spec.confidence:.0%} "
        f"(needs {needed:,} with {bad} bad, had {n:,})"
    )
    return Verdict.INCONCLUSIVE, conf, needed, detail


def _timings(
    slices: Sequence[Slice], counts: Sequence[Counts], fired: Sequence[Alert], faults: Sequence[float], target: float
) -> tuple[float | None, float | None, float | None]:
    """Time to detect (by the fast page, in intended and in wall-clock time) and to recover from the first fault."""
    if not faults:
        return None, None, None
    fault_at = min(faults)
    page = [a for a in fired if a.rule == "page-fast" and a.at >= fault_at]
    ttd = round(page[0].at - fault_at, 3) if page else None
    held = next((s.received_at for s in slices if page and abs(s.end - page[0].at) < 1e-6), None)
    ttd_wall = None if held is None else round(held - fault_at, 3)
    first_bad = next((c for c in counts if c.end > fault_at and c.total and c.bad / c.total > 1 - target), None)
    if first_bad is None:
        return ttd, ttd_wall, 0.0  # never left the objective: nothing to recover from
    back = time_to_recover(counts, target, first_bad.start, RECOVERY_SUSTAIN_S)
    return ttd, ttd_wall, None if back is None else round(first_bad.start + back - fault_at, 3)


def evaluate(
    spec: SLOSpec,
    slices: Sequence[Slice],
    faults: Sequence[float] = (),
    judge_confidence: bool = False,
    count_failed: bool = False,
) -> SLOResult:
    """Evaluate one SLO over exactly these slices.

    Probes (the default) judge the point estimate over their window. A run verdict passes with
    `judge_confidence` only if the samples support the claim at `spec.confidence`; otherwise it is
    `inconclusive`, never a pass. `faults`: injection times; the first one dates time to detect/recover.
    A latency SLI measures successful requests; with `count_failed` a failed request is a latency event
    slower than any bound too (so a latency SLO judged alone cannot pass through an outage).
    """
    start = min((s.start for s in slices), default=0.0)
    end = max((s.end for s in slices), default=0.0)
    unit = "ratio" if spec.sli is SLIKind.AVAILABILITY else "ms"
    count_failed = count_failed and spec.sli is SLIKind.LATENCY
    measured, samples, detail = _point(spec, slices, count_failed)
    if measured is None:
        what = "requests" if spec.sli is SLIKind.AVAILABILITY else "successful requests"
        return SLOResult(
            spec.name,
            spec.sli,
            spec.objective_text,
            None,
            unit,
            Verdict.INCONCLUSIVE,
            0,
            start,
            end,
            f"no {what} in the window",
        )
    counts = slice_counts(spec, slices, count_failed)
    target = spec.target_ratio
    judged = _judge(spec, counts, measured, count_failed, detail)
    spent = judged.spent
    verdict, conf, needed, detail = _verdict(spec, judged, judge_confidence)
    fired = alerts(counts, target, scaled_rules())
    ttd, ttd_wall, ttr = _timings(slices, counts, fired, faults, target)
    return SLOResult(
        spec.name,
        spec.sli,
        spec.objective_text,
        measured,
        unit,
        verdict,
        samples,
        start,
        end,
        detail,
        confidence=round(conf, 5),
        needed_samples=needed,
        bad=spent.bad,
        budget_consumed=round(spent.consumed, 5),
        burn_rate=round(spent.burn_rate, 3),
        uptime=None if judged.uptime is None else round(judged.uptime, 5),
        alerts=tuple(
            f"{a.rule} at +{a.at - start:.2f} s (burn {a.long_burn:.1f}x / {a.short_burn:.1f}x)" for a in fired
        ),
        time_to_detect_s=ttd,
        time_to_detect_wall_s=ttd_wall,
        time_to_recover_s=ttr,
        target=target,
    )


def evaluate_all(
    specs: Iterable[SLOSpec], slices: Sequence[Slice], faults: Sequence[float] = (), judge_confidence: bool = False
) -> list[SLOResult]:
    """Evaluate several SLOs together: when none of them judges availability, latency SLOs count failed
    requests as too slow (otherwise an outage that leaves a few fast successes would pass a latency SLO)."""
    specs = list(specs)
    count_failed = not any(spec.sli is SLIKind.AVAILABILITY for spec in specs)
    return [evaluate(spec, slices, faults, judge_confidence, count_failed) for spec in specs]


def seconds(slices: Sequence[Slice]) -> tuple[TimePoint, ...]:
    """The run second by second (slices merged by whole seconds of intended time), for charts."""
    buckets: dict[int, list[Slice]] = {}
    for s in slices:
        buckets.setdefault(int(s.start), []).append(s)
    points = []
    for second in sorted(buckets):
        group = buckets[second]
        hist = merge_latency(group)
        points.append(
            TimePoint(
                float(second),
                sum(s.total for s in group),
                sum(s.failed for s in group),
                hist.percentile_ms(50),
                hist.percentile_ms(99),
            )
        )
    return tuple(points)
