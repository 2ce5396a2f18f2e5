"""What load to send, as declared in an experiment (the `load` control's arguments)."""

from __future__ import annotations

import enum
import itertools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_PAYLOAD = Path(__file__).resolve().parents[2] / "reference_platform" / "model" / "samples.npy"
"""The reference platform's sample camera frames (uint8, N x 64 x 64 x 3): what the load sends by default."""
DEFAULT_INPUT = "images"
"""The reference model's input tensor."""


class Arrival(enum.StrEnum):
    CONSTANT = "constant"
    POISSON = "poisson"


class Shape(enum.StrEnum):
    CONSTANT = "constant"
    """`rate` throughout."""
    RAMP = "ramp"
    """From `rate` to `ramp_to` linearly over `ramp_s`, then hold."""
    STEP = "step"
    """`rate`, then each `steps` entry `[after_s, rate]` from its time on."""
    SPIKE = "spike"
    """`rate`, except `spike_rate` from `spike_at_s` for `spike_s`."""


def rate_at(points: list[tuple[float, float]], linear: bool, t: float) -> float:
    """The arrival rate at `t` seconds into the load, from breakpoints (time, rate) sorted by time."""
    rate = points[0][1]
    for (t0, r0), (t1, r1) in itertools.pairwise(points):
        if t < t0:
            break
        rate = r1 if t >= t1 else (r0 + (r1 - r0) * (t - t0) / (t1 - t0) if linear and t1 > t0 else r0)
    return rate


PER_PROCESS_MAX = 5000
"""Requests per second one generator process may be asked for (it stays accurate to ~4,000)."""


class LoadSpec(BaseModel):
    """Open-loop load: requests are sent at their scheduled times whether or not earlier ones returned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(100.0, gt=0, le=PER_PROCESS_MAX * 32)
    """Target arrival rate, requests per second: up to 5,000 per generator process (one stays accurate to
    ~4,000); more needs `workers`."""
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
    shape: Shape = Shape.CONSTANT
    """How the rate changes over time (times count from the start of the load, warm-up included)."""
    ramp_to: float | None = Field(None, gt=0, le=PER_PROCESS_MAX * 32)
    ramp_s: float = Field(30.0, gt=0)
    steps: list[tuple[float, float]] = Field(default_factory=list)
    """step: `[[after_s, rate], ...]`, e.g. `[[10, 200], [20, 300]]`."""
    spike_rate: float | None = Field(None, gt=0, le=PER_PROCESS_MAX * 32)
    spike_at_s: float = Field(10.0, ge=0)
    spike_s: float = Field(2.0, gt=0)
    protocol: str = Field("http", pattern="^(http|grpc)$")
    """`http` (KServe v2 over HTTP) or `grpc` (KServe v2 over gRPC), both through tritonclient."""
    spin_ms: float = Field(0.0, ge=0, le=5)
    """Wait out the last `spin_ms` before each request by yielding instead of a timer: gevent's timers fire
    up to ~1 ms late; spinning takes that out of the schedule lag (p50 ~0.06 ms instead of ~0.6 ms at
    1,000 req/s, `benchmarks/schedule_lag.py`) but burns CPU (most of a core at 1,000 req/s): for a
    generator with a core of its own, not one sharing the platform's."""
    web_ui_port: int | None = Field(None, ge=1024, le=65535)
    """Serve Locust's web UI on 127.0.0.1:PORT while the load runs (game days); the test starts by itself."""
    extra_locustfile: str | None = None
    """Your own locustfile, run alongside as background traffic (`extra_users` users, closed loop, Locust's
    own pacing) against the same target. The verdict is judged only from the open-loop requests."""
    extra_users: int = Field(10, ge=1, le=1000)
    workers: int = Field(0, ge=0, le=32)
    """Spread the load over Locust's distributed mode: a master and this many worker processes here, each
    sending an equal share of the schedule (0: one process, no master). Percentiles stay exact: each worker's
    HDR histograms are merged, never Locust's bucketed statistics."""
    remote_workers: int = Field(0, ge=0, le=256)
    """Workers the master also waits for from other machines (`resilience load worker --master HOST:PORT`)."""
    master_bind: str = "127.0.0.1"
    """Where the master listens for workers (`0.0.0.0` for workers on other machines)."""
    master_port: int = Field(0, ge=0, le=65535)
    """The master's port for workers (0: any free one; give one for remote workers)."""

    @property
    def processes(self) -> int:
        """How many generator processes share the schedule."""
        return self.workers + self.remote_workers or 1

    @model_validator(mode="after")
    def _rate_fits_its_processes(self) -> LoadSpec:
        if self.remote_workers and not self.workers and self.master_bind == "127.0.0.1":
            raise ValueError("remote_workers: set master_bind (e.g. 0.0.0.0) so workers on other machines reach it")
        cap = PER_PROCESS_MAX * self.processes
        if self.peak_rate > cap:
            raise ValueError(
                f"rate: {self.peak_rate:g} req/s is more than {self.processes} generator process(es) send "
                f"accurately (<= {PER_PROCESS_MAX} each): set `workers` to at least "
                f"{-(-int(self.peak_rate) // PER_PROCESS_MAX)}"
            )
        return self

    @model_validator(mode="after")
    def _shape_has_its_fields(self) -> LoadSpec:
        needs = {Shape.RAMP: ("ramp_to", self.ramp_to), Shape.SPIKE: ("spike_rate", self.spike_rate)}
        if self.shape in needs and needs[self.shape][1] is None:
            raise ValueError(f"shape {self.shape.value} needs `{needs[self.shape][0]}`")
        if self.shape is Shape.STEP and not self.steps:
            raise ValueError("shape step needs `steps: [[after_s, rate], ...]`")
        if any(not 0 < r <= 5000 * self.processes or t < 0 for t, r in self.steps):
            raise ValueError(f"steps: each entry is [after_s >= 0, rate in (0, {5000 * self.processes}]]")
        return self

    def profile(self) -> tuple[list[tuple[float, float]], bool]:
        """Breakpoints (time, rate) and whether to interpolate between them (see `rate_at`)."""
        if self.shape is Shape.RAMP and self.ramp_to is not None:
            return [(0.0, self.rate), (self.ramp_s, self.ramp_to)], True
        if self.shape is Shape.STEP:
            return [(0.0, self.rate), *sorted(self.steps)], False
        if self.shape is Shape.SPIKE and self.spike_rate is not None:
            start, end = self.spike_at_s, self.spike_at_s + self.spike_s
            return [(0.0, self.rate), (start, self.spike_rate), (end, self.rate)], False
        return [(0.0, self.rate)], False

    @property
    def peak_rate(self) -> float:
        return max(r for _, r in self.profile()[0])
