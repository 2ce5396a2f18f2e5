"""SLO specifications and results."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from resilience.model.enums import Budgeting, SLIKind, Verdict


class SLOSpec(BaseModel):
    """One service level objective, as written in the catalogue (`probes/slos.yaml`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    """How experiments refer to it."""
    description: str = ""
    sli: SLIKind
    """`availability`: successful / all requests. `latency`: a percentile of successful requests."""
    objective: float = Field(gt=0)
    """availability: the success ratio to meet, in (0, 1). latency: the bound in milliseconds."""
    percentile: float | None = Field(default=None, gt=0, lt=100)
    """latency only: which percentile must stay at or below `objective` ms (e.g. 99)."""
    budgeting: Budgeting = Budgeting.OCCURRENCES
    """`occurrences`: every request spends budget; `timeslices`: a slice whose own ratio misses
    `timeslice_target` is one bad "minute" (uptime)."""
    timeslice_target: float | None = Field(default=None, gt=0, lt=1)
    """timeslices only: the good ratio a slice must reach to count as good (default: the SLO's ratio)."""
    window_s: float | None = Field(default=None, gt=0)
    """The SLO's time window (OpenSLO `timeWindow`): the default window of the `slo_met` probe."""
    confidence: float = Field(0.99, ge=0, lt=1)
    """A run verdict passes only if the claim holds at this confidence (MLPerf early stopping); 0: point estimate."""

    @model_validator(mode="after")
    def _check(self) -> SLOSpec:
        if self.sli is SLIKind.AVAILABILITY:
            if not self.objective < 1:
                raise ValueError("availability objective must be a ratio in (0, 1), e.g. 0.999")
            if self.percentile is not None:
                raise ValueError("percentile applies to latency SLOs only; remove it")
        elif self.percentile is None:
            raise ValueError("latency SLOs need `percentile`, e.g. percentile: 99")
        return self

    @property
    def target_ratio(self) -> float:
        """The share of events that must be good: the availability objective, or the percentile / 100."""
        return self.objective if self.sli is SLIKind.AVAILABILITY else (self.percentile or 0) / 100

    @property
    def objective_text(self) -> str:
        if self.sli is SLIKind.AVAILABILITY:
            return f">= {self.objective * 100:g}%"
        return f"p{self.percentile:g} <= {self.objective:g} ms"


class StopCondition(BaseModel):
    """Abort the method and roll back when an SLO burns too fast (like AWS FIS stop conditions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slo: str
    """A catalogue SLO name."""
    budget_consumed_above: float | None = Field(default=None, gt=0, le=1)
    """Stop once this share of the SLO's error budget is spent (counted from the end of the warm-up)."""
    burn_rate_above: float | None = Field(default=None, gt=0)
    """Stop once the burn rate over the trailing `window_s` exceeds this (14.4 pages in the SRE Workbook)."""
    window_s: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _one_threshold(self) -> StopCondition:
        if (self.budget_consumed_above is None) == (self.burn_rate_above is None):
            raise ValueError("give exactly one of budget_consumed_above or burn_rate_above")
        return self


@dataclass(frozen=True, slots=True)
class SLOResult:
    name: str
    sli: SLIKind
    objective: str
    measured: float | None
    """availability: the ratio; latency: milliseconds. None when there were no samples."""
    unit: str
    verdict: Verdict
    samples: int
    window_start: float
    window_end: float
    detail: str = ""
    confidence: float | None = None
    """How strongly the samples support the objective (MLPerf early stopping); None for probes."""
    needed_samples: int | None = None
    """Requests needed to support the claim at the spec's confidence with the bad ones seen."""
    bad: int = 0
    """Bad events: failed requests (availability) or successful ones over the bound (latency)."""
    budget_consumed: float | None = None
    """Share of the error budget spent over the window, in [0, 1]."""
    burn_rate: float | None = None
    """Average burn over the window: 1 spends exactly the budget, 14.4 pages."""
    uptime: float | None = None
    """Share of good slices (timeslices budgeting)."""
    alerts: tuple[str, ...] = ()
    """Multiwindow burn-rate alerts that fired, e.g. `page-fast at +12.25 s (burn 80x / 96x)`."""
    time_to_detect_s: float | None = None
    """From the first fault's injection to the first page-fast alert, in the requests' intended-send-time
    coordinates (the slice the alert fired on began this long after the fault)."""
    time_to_detect_wall_s: float | None = None
    """From the first fault's injection to when the toolkit held that slice (its requests had all answered or
    timed out): the earliest wall-clock moment anything watching the SLO could have paged."""
    time_to_recover_s: float | None = None
    """From the first fault's end to the SLI back within objective, sustained."""
    target: float | None = None
    """The share of events that must be good (availability objective, or percentile / 100)."""

    @property
    def detect_text(self) -> str:
        """Time to detect as reports show it: intended-time figure, then when the toolkit could have known."""
        if self.time_to_detect_s is None:
            return "-"
        held = "" if self.time_to_detect_wall_s is None else f" (held {self.time_to_detect_wall_s:.2f} s)"
        return f"{self.time_to_detect_s:.2f} s{held}"

    @property
    def measured_text(self) -> str:
        if self.measured is None:
            return "-"
        if self.sli is SLIKind.AVAILABILITY:
            return f"{self.measured * 100:.3f}%"
        return f"{self.measured:.2f} ms"
