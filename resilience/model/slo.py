"""SLO specifications and results."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from resilience.model.enums import SLIKind, Verdict


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
    def objective_text(self) -> str:
        if self.sli is SLIKind.AVAILABILITY:
            return f">= {self.objective * 100:g}%"
        return f"p{self.percentile:g} <= {self.objective:g} ms"


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

    @property
    def measured_text(self) -> str:
        if self.measured is None:
            return "-"
        if self.sli is SLIKind.AVAILABILITY:
            return f"{self.measured * 100:.3f}%"
        return f"{self.measured:.2f} ms"
