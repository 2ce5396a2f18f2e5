"""Judging a new version from what the gateway and the pipeline saw of it: pure functions, no I/O.

The rollout controllers (`reference_platform.rollout`) read HAProxy's per-server counters and the pipeline's
shadow metrics, and hand them here: `observe_canary` sums what one canary served since its baseline, and
`canary_verdict` / `green_verdict` say why to roll back (or None) under a `CanaryPolicy`:

- failure ratio: (5xx + response errors + connection errors + retries/redispatches away from it) /
  requests sent to it; above `max_error_ratio` -> roll back;
- latency: HAProxy's average response time of the last 1,024 requests; above `max_latency_ratio` x
  the stable replicas' (and above 5 ms) -> roll back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

FAILURE_FIELDS = ("hrsp_5xx", "eresp", "econ", "wretr", "wredis")
"""HAProxy server counters that count a request the new version failed (or that was sent away from it)."""

Stats = Mapping[str, Mapping[str, str]]
"""HAProxy's `show stat`, per server name: field -> value (as text; empty when unset)."""


@dataclass
class CanaryPolicy:
    version: int
    weight: int = 10
    """Percent of each region's traffic for the canary (1-50)."""
    max_error_ratio: float = 0.01
    max_latency_ratio: float = 2.0
    min_requests: int = 20
    """No decision before the canary has served this many requests."""
    ready_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Observation:
    """What the gateway saw of a new version since it got traffic, next to the version it would replace."""

    requests: int
    failures: int
    rtime_ms: float
    stable_rtime_ms: float

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, float]:
        """The record a rollout serves per canary (`RolloutState.canary`)."""
        return {
            "requests": self.requests,
            "failures": self.failures,
            "failure_ratio": self.failure_ratio,
            "rtime_ms": self.rtime_ms,
            "stable_rtime_ms": self.stable_rtime_ms,
        }


def counters(row: Mapping[str, str]) -> dict[str, int]:
    """The request and failure counters of one server's stats row."""
    return {k: int(row.get(k) or 0) for k in ("stot", *FAILURE_FIELDS)}


def failures_since(now: Mapping[str, int], base: Mapping[str, int]) -> int:
    return sum(now[k] - base.get(k, 0) for k in FAILURE_FIELDS)


def observe_canary(stats: Stats, name: str, base: Mapping[str, int], stable: Iterable[str]) -> Observation:
    """What canary `name` served since `base`, and the average response time of its region's `stable` servers."""
    now = counters(stats.get(name, {}))
    stable_rt = [int(stats[s].get("rtime") or 0) for s in stable if s in stats]
    return Observation(
        requests=now["stot"] - base.get("stot", 0),
        failures=failures_since(now, base),
        rtime_ms=float(stats.get(name, {}).get("rtime") or 0),
        stable_rtime_ms=sum(stable_rt) / len(stable_rt) if stable_rt else 0.0,
    )


def canary_verdict(name: str, ready: bool, seen: Observation, policy: CanaryPolicy) -> str | None:
    """Why canary `name` must be rolled back, or None while it is fine (or has served too little to tell)."""
    if not ready:
        return f"canary {name} is not ready"
    if seen.requests < policy.min_requests:
        return None
    ratio, rtime, stable_rtime = seen.failure_ratio, seen.rtime_ms, seen.stable_rtime_ms
    if ratio > policy.max_error_ratio:
        return (
            f"canary {name} failure ratio {ratio:.3f} > {policy.max_error_ratio:.3f} "
            f"({seen.failures} of {seen.requests} requests)"
        )
    if rtime > 5 and stable_rtime and rtime > policy.max_latency_ratio * stable_rtime:
        return f"canary {name} latency {rtime:.0f} ms > {policy.max_latency_ratio:g} x stable {stable_rtime:.1f} ms"
    return None


def green_verdict(seen: Observation, policy: CanaryPolicy) -> str | None:
    """Why a switched-to green set must be switched back, or None: `seen` sums every green pod, against blue."""
    requests, failures, rtime, blue_rtime = seen.requests, seen.failures, seen.rtime_ms, seen.stable_rtime_ms
    if requests >= policy.min_requests and failures / requests > policy.max_error_ratio:
        return f"green failure ratio {failures / requests:.3f} > {policy.max_error_ratio:.3f}"
    if requests >= policy.min_requests and rtime > 5 and blue_rtime and rtime > policy.max_latency_ratio * blue_rtime:
        return f"green latency {rtime:.0f} ms > {policy.max_latency_ratio:g} x blue {blue_rtime:.1f} ms"
    return None


def shadow_summary(metrics: str) -> dict[str, float]:
    """Requests, errors, drops and the agreement ratio of the shadow, from preprocessing's `/metrics` text."""
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("pipeline_shadow_")
    }
    requests = values.get("pipeline_shadow_requests_total", 0.0)
    return {
        "requests": requests,
        "errors": values.get("pipeline_shadow_errors_total", 0.0),
        "dropped": values.get("pipeline_shadow_dropped_total", 0.0),
        # agreements are counted before requests: one in flight may show as agreements = requests + 1
        "agreement_ratio": min(1.0, values.get("pipeline_shadow_agreements_total", 0.0) / requests)
        if requests
        else 0.0,
    }
