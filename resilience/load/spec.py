"""What load to send, as declared in an experiment (the `load` control's arguments)."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field


class Arrival(enum.StrEnum):
    CONSTANT = "constant"
    POISSON = "poisson"


class LoadSpec(BaseModel):
    """Open-loop load: requests are sent at their scheduled times whether or not earlier ones returned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(100.0, gt=0, le=5000)
    """Target arrival rate, requests per second (one generator process stays accurate to ~4,000)."""
    arrival: Arrival = Arrival.POISSON
    """`poisson` (exponential gaps, like independent cameras) or `constant` (fixed gaps)."""
    timeout_s: float = Field(2.0, gt=0, le=60)
    """A request not answered within this long counts as failed."""
    slice_s: float = Field(0.25, ge=0.05, le=10)
    """Width of a measurement slice; SLO windows are made of whole slices."""
    max_duration_s: float = Field(900.0, gt=0, le=86_400)
    """Hard upper bound: the generator stops itself after this long even if nobody stops it."""
    warmup_s: float = Field(1.0, ge=0, le=600)
    """Seconds of load before the experiment proceeds (connections and replicas warm up)."""
    concurrency: int = Field(64, ge=1, le=1024)
    """Most requests in flight at once (the client's connection pool)."""
