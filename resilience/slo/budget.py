"""Error budgets, burn rates, multiwindow burn-rate alerts, time to detect and time to recover.

All of it works on per-slice counts of good and bad events (a request that failed, or a successful
one slower than a latency bound) in intended-time order; nothing here reads a clock.

Burn rate = (bad / total over a window) / (1 - objective): 1 spends the budget exactly over the SLO
period. The SRE Workbook pages on 14.4x over 1 h *and* 5 min, and 6x over 6 h and 30 min (ticket: 1x
over 3 days and 6 h), for a 30-day SLO; a chaos run lasts minutes, so its windows are scaled by
`scale` (default: 1 h of a month -> 5 s of a run, keeping the Workbook's 12:1 long:short ratios).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Counts:
    """Good and bad events in one slice."""

    start: float
    end: float
    bad: int
    total: int


@dataclass(frozen=True, slots=True)
class BurnRule:
    name: str
    factor: float
    long_s: float
    short_s: float


WORKBOOK_RULES = (
    BurnRule("page-fast", 14.4, 1 * HOUR, 5 * 60),
    BurnRule("page-slow", 6.0, 6 * HOUR, 30 * 60),
    BurnRule("ticket", 1.0, 72 * HOUR, 6 * HOUR),
)
DEFAULT_SCALE = 5.0 / HOUR
"""1 h of a 30-day SLO becomes 5 s of a run: page-fast is 14.4x over 5 s and 0.42 s."""


def scaled_rules(scale: float = DEFAULT_SCALE) -> list[BurnRule]:
    return [BurnRule(r.name, r.factor, r.long_s * scale, r.short_s * scale) for r in WORKBOOK_RULES]


@dataclass(frozen=True, slots=True)
class Budget:
    allowed_bad: float
    """(1 - objective) x events: what the objective lets go bad."""
    bad: int
    total: int

    @property
    def consumed(self) -> float:
        """Share of the error budget spent, in [0, 1] (1 = exhausted or overspent)."""
        if self.bad == 0:
            return 0.0
        return 1.0 if self.allowed_bad <= 0 else min(1.0, self.bad / self.allowed_bad)

    @property
    def burn_rate(self) -> float:
        """Average burn over the window (unclamped): 2.0 = spending twice as fast as the budget allows."""
        return 0.0 if self.total == 0 else (self.bad / self.total) / max(1e-12, self.allowed_bad / self.total)


def budget(counts: Sequence[Counts], objective: float) -> Budget:
    """Occurrences budgeting: every event counts."""
    bad, total = sum(c.bad for c in counts), sum(c.total for c in counts)
    return Budget((1.0 - objective) * total, bad, total)


def timeslice_budget(counts: Sequence[Counts], objective: float, slice_target: float) -> Budget:
    """Timeslices budgeting: a slice is bad when its own good ratio is below `slice_target` (empty slices are good)."""
    bad_slices = sum(1 for c in counts if c.total and (c.total - c.bad) / c.total < slice_target)
    return Budget((1.0 - objective) * len(counts), bad_slices, len(counts))


def burn(counts: Sequence[Counts], objective: float) -> float:
    bad, total = sum(c.bad for c in counts), sum(c.total for c in counts)
    return 0.0 if total == 0 else (bad / total) / (1.0 - objective)


def _trailing(counts: Sequence[Counts], i: int, seconds: float) -> Sequence[Counts]:
    """Slices ending within `seconds` before the end of slice i (at least slice i itself)."""
    end = counts[i].end
    j = i
    while j > 0 and end - counts[j - 1].start <= seconds + 1e-9:
        j -= 1
    return counts[j : i + 1]


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    at: float
    """End of the slice at which both windows first burned at or above the rule's factor."""
    long_burn: float
    short_burn: float


def alerts(counts: Sequence[Counts], objective: float, rules: Sequence[BurnRule]) -> list[Alert]:
    """Every rising edge of every rule: both the long and the short window at or above `factor`."""
    fired: list[Alert] = []
    for rule in rules:
        firing = False
        for i in range(len(counts)):
            long_b = burn(_trailing(counts, i, rule.long_s), objective)
            short_b = burn(_trailing(counts, i, rule.short_s), objective)
            now = long_b >= rule.factor and short_b >= rule.factor
            if now and not firing:
                fired.append(Alert(rule.name, counts[i].end, long_b, short_b))
            firing = now
    return sorted(fired, key=lambda a: a.at)


def time_to_detect(counts: Sequence[Counts], objective: float, fault_at: float, rule: BurnRule) -> float | None:
    """Seconds from `fault_at` to the first `rule` alert at or after it (None: never detected)."""
    after = [a for a in alerts(counts, objective, [rule]) if a.at >= fault_at]
    return round(after[0].at - fault_at, 3) if after else None


def time_to_recover(counts: Sequence[Counts], objective: float, since: float, sustain_s: float) -> float | None:
    """Seconds from `since` until the SLI is back within objective and stays so for `sustain_s`.

    Recovery is dated to the start of the first slice of that sustained good stretch (slices without
    requests do not break a stretch). None when it never holds for `sustain_s` before the data ends.
    """
    run_start: float | None = None
    for c in counts:
        if c.end <= since:
            continue
        good = c.total == 0 or c.bad / c.total <= 1.0 - objective
        if not good:
            run_start = None
            continue
        run_start = max(c.start, since) if run_start is None else run_start
        if c.end - run_start >= sustain_s - 1e-9:
            return round(run_start - since, 3)
    return None
