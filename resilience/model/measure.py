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
class WorkerSummary:
    """One generator process of a distributed run: what it sent of its share, and what it cost."""

    worker: int
    share: float
    """Its part of the declared rate (1/N)."""
    sent: int
    expected: float
    """Requests its share of the declared schedule asked for over the run."""
    cpu_s: float | None
    schedule_lag_p99_ms: float | None
    lost: str | None = None
    """Why it stopped sending before the end (its process died, the master lost its heartbeats), if it did."""

    @property
    def missed_share(self) -> float:
        """The share of its part of the schedule it did not send (0 when it kept up)."""
        return max(0.0, 1.0 - self.sent / self.expected) if self.expected > 0 else 0.0


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
    workers: tuple[WorkerSummary, ...] = ()
    """Per generator process, when the load was spread over Locust workers (`load: {workers: N}`)."""
