"""Measurements: one time slice of requests, and the load generator's summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Slice:
    """Every request whose intended send time fell in [start, end), as the load generator saw it.

    Latency is measured from the intended send time (so a stalled server or a late generator shows
    up as latency, not as fewer requests), in microseconds, into an HDR histogram (encoded).
    """

    index: int
    start: float
    """Wall-clock seconds (epoch) at the slice's start."""
    end: float
    ok: int
    failed: int
    latency_hdr: bytes
    """Encoded HDR histogram of successful requests' latency, microseconds."""
    lag_hdr: bytes
    """Encoded HDR histogram of schedule lag (send time minus intended time), microseconds."""
    errors: Mapping[str, int] = field(default_factory=dict)
    received_at: float | None = None
    """Wall time the toolkit held this slice (after its last request answered or timed out): the earliest
    moment a judge could have seen it."""

    @property
    def total(self) -> int:
        return self.ok + self.failed


@dataclass(frozen=True, slots=True)
class LoadSummary:
    requests: int
    failures: int
    duration_s: float
    target_rps: float
    achieved_rps: float
    schedule_lag_p99_ms: float | None
    generator_cpu_s: float | None
    errors: Mapping[str, int] = field(default_factory=dict)
