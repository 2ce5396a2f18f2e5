"""Which pods a fault hits: a selector by role, region and labels, by count or percentage, within a blast radius."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from resilience.errors import FaultError, NothingMatchedError, UsageError
from resilience.targets import Pod, Target


@dataclass(frozen=True, slots=True)
class Selector:
    role: str = "inference"
    region: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    """Further pod labels that must all match, e.g. `{variant: canary}` (see `Pod.labels`)."""
    count: int | None = None
    """How many pods to hit; with neither count nor percentage, one."""
    percentage: float | None = None
    """Share of the matching pods to hit, in percent, rounded down but at least one."""
    max_fraction: float = 0.5
    """Blast radius: at most this share of the role's pods (all regions) may be hit at once."""

    def __post_init__(self) -> None:
        if self.count is not None and self.percentage is not None:
            raise UsageError("count and percentage: give one of them, not both")
        if self.count is not None and self.count < 1:
            raise UsageError(f"count: must be at least 1 (got {self.count})")
        if self.percentage is not None and not 0 < self.percentage <= 100:
            raise UsageError(f"percentage: must be in (0, 100] (got {self.percentage})")
        if not 0 < self.max_fraction <= 1:
            raise UsageError(f"max_fraction: must be in (0, 1] (got {self.max_fraction}); 1 allows every pod")

    def describe(self) -> str:
        parts = [f"role={self.role}"] + ([f"region={self.region}"] if self.region else [])
        parts += [f"{k}={v}" for k, v in self.labels.items()]
        return " ".join(parts)

    def pick(self, platform: Target) -> list[Pod]:
        """The pods to hit now; raises when nothing matches or the blast radius would be exceeded."""
        everyone = platform.select(role=self.role)
        matched = [
            p
            for p in everyone
            if (self.region is None or p.region == self.region)
            and all(str(p.labels.get(k)) == str(v) for k, v in self.labels.items())
        ]
        if not matched:
            raise NothingMatchedError(
                f"no running pod matches {self.describe()}; check `resilience platform status` for the pods there are"
            )
        n = self.count if self.count is not None else 1
        if self.percentage is not None:
            n = max(1, math.floor(len(matched) * self.percentage / 100))
        if n > len(matched):
            raise NothingMatchedError(f"count {n} but only {len(matched)} running pod(s) match {self.describe()}")
        allowed = max(1, math.floor(len(everyone) * self.max_fraction))
        if n > allowed:
            regions = sorted({p.region for p in everyone})
            hint = (
                f"; the platform has one region ({regions[0]}), so there is nowhere to fail over to: start it with "
                "`resilience platform up --regions 2` (or raise max_fraction explicitly to take every pod down)"
                if self.region is not None and len(regions) == 1
                else "; raise max_fraction explicitly to allow it"
            )
            raise FaultError(
                f"hitting {n} of {len(everyone)} {self.role} pods exceeds the blast radius ({self.max_fraction:.0%})"
                + hint
            )
        return matched[:n]
