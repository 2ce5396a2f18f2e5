"""How much a sample supports a claim: MLPerf-style early stopping for tail and ratio objectives.

A claim "at most a fraction `tail` of requests is bad" (p99 <= bound: tail 0.01; availability >= 99.9%:
tail 0.001) is supported at confidence c by n requests with k bad when, were the true bad fraction
exactly `tail`, seeing k or fewer bad would be unlikely: P[Binomial(n, tail) <= k] <= 1 - c. MLPerf's
anchor: a p99 claim at 99% needs 459 queries with none over the bound (662 with one, 838 with two).
"""

from __future__ import annotations

import math


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P[X <= k] for X ~ Binomial(n, p), summed in log space (n up to millions)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    base = math.lgamma(n + 1)
    for i in range(k + 1):
        total += math.exp(base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q)
    return min(1.0, total)


def confidence(n: int, bad: int, tail: float) -> float:
    """Confidence that the true bad fraction is at most `tail`, having seen `bad` of `n` (0 with no samples)."""
    if n <= 0:
        return 0.0
    return 1.0 - binomial_cdf(bad, n, tail)


def samples_needed(tail: float, bad: int = 0, level: float = 0.99) -> int:
    """Fewest requests that support the claim at `level` when `bad` of them are bad."""
    n = max(bad + 1, 1)
    while confidence(n, bad, tail) < level:
        # grow geometrically, then settle by bisection: the CDF falls monotonically in n
        n *= 2
    lo, hi = n // 2, n
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if confidence(mid, bad, tail) >= level else (mid, hi)
    return hi
