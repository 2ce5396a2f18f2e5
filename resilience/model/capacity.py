"""What the platform can serve on this box: the measured rate at which it still holds a latency objective."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CapacityStep(BaseModel):
    """One rate of a capacity search, judged from every request whose intended send time fell in its window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float
    """Target arrival rate (Poisson), req/s."""
    requests: int
    failed: int
    achieved_rps: float
    p50_ms: float | None
    latency_ms: float | None
    """The latency at the objective's percentile (see `Capacity.percentile`)."""
    lag_p99_ms: float | None
    """The generator's own schedule lag: when it is large the generator, not the platform, was the limit."""
    holds: bool
    """Latency within the objective, errors within the allowance, and the rate really sent."""


class Capacity(BaseModel):
    """A capacity search's result; `resilience platform capacity` writes it as capacity.json in the state dir."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    platform_id: str | None = None
    """The local platform measured (a figure for another platform instance is stale)."""
    percentile: float = 99.0
    objective_ms: float
    """The latency objective held: the `percentile` latency <= this (the catalogue's latency SLO)."""
    max_error_ratio: float
    step_s: float
    measured_at: float
    """Wall-clock seconds (epoch) when the search ended."""
    steps: list[CapacityStep] = Field(default_factory=list)

    @property
    def held_rps(self) -> float | None:
        """The highest rate of the unbroken run of holding steps from the first; None if the first failed."""
        held = None
        for step in self.steps:
            if not step.holds:
                break
            held = step.rate
        return held

    @property
    def breached_rps(self) -> float | None:
        """The first rate that did not hold (None: every rate tried held, the capacity is higher still)."""
        return next((s.rate for s in self.steps if not s.holds), None)
