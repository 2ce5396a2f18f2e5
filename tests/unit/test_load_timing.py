"""What the open-loop generator's clocks measure: schedule lag at the send, latency from the intended time.

Runs the generator's real scheduler and recorder on gevent in this process (gevent is imported, never
monkey-patched); the only stand-in is the send itself, which burns CPU without yielding, the way a
generator too busy to keep up does.
"""

from __future__ import annotations

import time
from typing import Any

from resilience.load.openloop import OpenLoop, Recorder
from resilience.model import Histogram

RATE = 1000.0
REQUESTS = 30
HOG_S = 0.003


class ListSink:
    """Collects the slices the recorder would push over ZeroMQ."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send_json(self, obj: Any) -> None:
        self.messages.append(obj)


def burn(seconds: float) -> None:
    """Hold the CPU (and gevent's loop) without yielding."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def run_hogged_schedule() -> tuple[Recorder, ListSink, dict[int, float]]:
    """REQUESTS constant arrivals at RATE; each send holds the loop HOG_S (3x the gap) before it returns."""
    sink = ListSink()
    rec = Recorder(sink, slice_s=60.0, timeout_s=1.0)
    started: dict[int, float] = {}

    def send(n: int) -> str | None:
        started[n] = time.monotonic()
        burn(HOG_S)
        return None

    pool = OpenLoop(rec, send).run(
        [(0.0, RATE)], False, poisson=False, spin_s=0.0, stopping=lambda: rec.sent >= REQUESTS
    )
    pool.join(timeout=10)
    rec.flush(force=True)
    return rec, sink, started


def merged(sink: ListSink, key: str) -> Histogram:
    h = Histogram()
    for m in sink.messages:
        h.add_encoded(m[key].encode())
    return h


def test_schedule_lag_counts_the_wait_before_the_send_greenlet_runs() -> None:
    rec, sink, started = run_hogged_schedule()
    assert sorted(started) == list(range(REQUESTS))
    # when each request really reached the client, against its intended time (constant gaps from mono0)
    true_lag_ms = sorted((started[n] - (rec.mono0 + n / RATE)) * 1000 for n in range(REQUESTS))
    lag = merged(sink, "lag")
    assert lag.count == REQUESTS
    # the sends took 3x their share of time, so the last ones were sent far behind schedule ...
    assert true_lag_ms[-1] >= 0.5 * (HOG_S - 1 / RATE) * 1000 * REQUESTS
    # ... and the recorded lag says so: its max and median match the real delays (HDR keeps 3 digits).
    # Taken where the scheduler spawned the greenlet instead, the max fell short by tens of ms.
    lag_max, lag_p50 = lag.percentile_ms(100), lag.percentile_ms(50)
    assert lag_max is not None and lag_p50 is not None
    assert abs(lag_max - true_lag_ms[-1]) <= 0.5, (lag_max, true_lag_ms[-1])
    assert abs(lag_p50 - true_lag_ms[REQUESTS // 2 - 1]) <= 1.0, (lag_p50, true_lag_ms)


def test_latency_still_runs_from_the_intended_time() -> None:
    rec, sink, started = run_hogged_schedule()
    latency = merged(sink, "latency")
    assert latency.count == REQUESTS and sum(m["failed"] for m in sink.messages) == 0
    # the request sent latest: its latency includes the lag before it was sent, not just its own send
    last = max(range(REQUESTS), key=lambda n: started[n] - n / RATE)
    expected_ms = (started[last] - (rec.mono0 + last / RATE) + HOG_S) * 1000
    latency_max = latency.percentile_ms(100)
    assert latency_max is not None and latency_max >= expected_ms - 0.5, (latency_max, expected_ms)
