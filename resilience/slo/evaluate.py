"""Evaluate SLO specs over a window of slices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from resilience.model import Slice, SLIKind, SLOResult, SLOSpec, Verdict
from resilience.model.histogram import merge_latency


def window(slices: Iterable[Slice], start: float | None = None, end: float | None = None) -> list[Slice]:
    """The slices that lie wholly inside [start, end] (either bound may be open)."""
    return [s for s in slices if (start is None or s.start >= start - 1e-9) and (end is None or s.end <= end + 1e-9)]


def evaluate(spec: SLOSpec, slices: Sequence[Slice]) -> SLOResult:
    """Evaluate one SLO over exactly these slices. No samples at all gives `inconclusive`."""
    start = min((s.start for s in slices), default=0.0)
    end = max((s.end for s in slices), default=0.0)
    if spec.sli is SLIKind.AVAILABILITY:
        ok = sum(s.ok for s in slices)
        total = sum(s.total for s in slices)
        if total == 0:
            return SLOResult(
                spec.name,
                spec.sli,
                spec.objective_text,
                None,
                "ratio",
                Verdict.INCONCLUSIVE,
                0,
                start,
                end,
                "no requests in the window",
            )
        ratio = ok / total
        verdict = Verdict.PASS if ratio >= spec.objective else Verdict.FAIL
        return SLOResult(
            spec.name,
            spec.sli,
            spec.objective_text,
            ratio,
            "ratio",
            verdict,
            total,
            start,
            end,
            f"{total - ok} of {total} requests failed",
        )
    assert spec.percentile is not None  # guaranteed by SLOSpec validation
    hist = merge_latency(slices)
    value = hist.percentile_ms(spec.percentile)
    if value is None:
        return SLOResult(
            spec.name,
            spec.sli,
            spec.objective_text,
            None,
            "ms",
            Verdict.INCONCLUSIVE,
            0,
            start,
            end,
            "no successful requests in the window",
        )
    verdict = Verdict.PASS if value <= spec.objective else Verdict.FAIL
    above = hist.count_above_ms(spec.objective)
    return SLOResult(
        spec.name,
        spec.sli,
        spec.objective_text,
        value,
        "ms",
        verdict,
        hist.count,
        start,
        end,
        f"{above} of {hist.count} requests over {spec.objective:g} ms",
    )


def evaluate_all(specs: Iterable[SLOSpec], slices: Sequence[Slice]) -> list[SLOResult]:
    return [evaluate(spec, slices) for spec in specs]
