"""The open-loop schedule and its per-slice recorder, run inside the Locust process.

Imported by the locustfile (and tests), never by the toolkit's own process: it imports gevent.

One scheduler greenlet spawns each request in a greenlet of its own at its intended time (constant or
exponential gaps) and never waits for responses, so a stalled server cannot make it send less.
Latency is measured from the intended time. Schedule lag is measured in the greenlet that sends, just
before the send: it includes the time a busy generator took to start that greenlet, not only how late
the scheduler woke. Requests are grouped by intended time into slices.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

import gevent
import gevent.pool

from resilience.load.messages import SliceDone
from resilience.load.spec import rate_at
from resilience.model import Histogram

log = logging.getLogger(__name__)

Send = Callable[[int], str | None]
"""Send request number n (blocking this greenlet only); return None on success, else the error's name."""
Done = Callable[[float, str | None], None]
"""Hears each finished request: its latency from the intended time (s) and its error, if any."""


class SliceSink(Protocol):
    """Where finished slices go: a `zmq.green` PUSH socket in the generator."""

    def send_json(self, obj: Any) -> None: ...


class _Slice:
    __slots__ = ("errors", "failed", "inflight", "lag", "latency", "ok")

    def __init__(self) -> None:
        self.latency, self.lag = Histogram(), Histogram()
        self.ok = self.failed = self.inflight = 0
        self.errors: dict[str, int] = {}


class Recorder:
    """Per-slice counters and histograms, keyed by intended send time."""

    def __init__(
        self, sink: SliceSink, slice_s: float, timeout_s: float, wall0: float | None = None, worker: int = 0
    ) -> None:
        """`wall0`: the schedule's origin, shared by every worker of a distributed run (default: now)."""
        self.sink, self.slice_s, self.timeout_s, self.worker = sink, slice_s, timeout_s, worker
        now_wall, now_mono = time.time(), time.monotonic()
        self.wall0 = now_wall if wall0 is None else wall0
        self.mono0 = now_mono - (now_wall - self.wall0)
        self.slices: dict[int, _Slice] = {}
        self.sent = 0
        self.lag = Histogram()
        """The whole run's schedule lag (for the worker's own summary)."""

    def index(self, intended: float) -> int:
        return int((intended - self.mono0) / self.slice_s)

    def begin(self, intended: float) -> int:
        """Count a scheduled request as in flight (its slice waits for it); return its slice."""
        i = self.index(intended)
        self.slices.setdefault(i, _Slice()).inflight += 1
        self.sent += 1
        return i

    def started(self, i: int, lag_s: float) -> None:
        """Record how late request of slice `i` was handed to the client, against its intended time."""
        self.slices[i].lag.record(lag_s * 1e6)
        self.lag.record(lag_s * 1e6)

    def end(self, i: int, latency_s: float, error: str | None) -> None:
        s = self.slices[i]
        s.inflight -= 1
        if error is None:
            s.ok += 1
            s.latency.record(latency_s * 1e6)
        else:
            s.failed += 1
            s.errors[error] = s.errors.get(error, 0) + 1

    def flush(self, force: bool = False) -> None:
        """Send every slice that has ended and has no request still in flight."""
        now = time.monotonic()
        for i in sorted(self.slices):
            s = self.slices[i]
            end = self.mono0 + (i + 1) * self.slice_s
            if not force and (now < end or (s.inflight and now < end + self.timeout_s + 1.0)):
                continue
            del self.slices[i]
            self.sink.send_json(
                SliceDone(
                    worker=self.worker,
                    index=i,
                    start=self.wall0 + i * self.slice_s,
                    end=self.wall0 + (i + 1) * self.slice_s,
                    ok=s.ok,
                    failed=s.failed + s.inflight,
                    errors=s.errors | ({"unfinished": s.inflight} if s.inflight else {}),
                    latency=s.latency.encode().decode(),
                    lag=s.lag.encode().decode(),
                ).model_dump()
            )

    def through(self) -> float:
        """Wall time before which every slice has been sent: the start of the oldest one still held, or of the
        slice being filled now."""
        now_index = self.index(time.monotonic())
        oldest = min(self.slices, default=now_index)
        return self.wall0 + min(oldest, now_index) * self.slice_s


class OpenLoop:
    """Send requests at their intended times through `send`, each in its own greenlet."""

    def __init__(self, recorder: Recorder, send: Send, done: Done | None = None) -> None:
        self.recorder, self.send, self.done = recorder, send, done

    def request(self, i: int, intended: float, n: int) -> None:
        """One request's greenlet: record its lag, send it, record its latency from the intended time."""
        # lag here, not where the scheduler spawned this greenlet: a generator too busy to run its
        # greenlets sends late, and that delay is part of the lag
        self.recorder.started(i, time.monotonic() - intended)
        try:
            error = self.send(n)
        except Exception as exc:  # a send that raised is a failed request, measured like any other
            log.debug("request %d raised", n, exc_info=True)
            error = type(exc).__name__
        finished = time.monotonic()
        self.recorder.end(i, finished - intended, error)
        if self.done is not None:
            self.done(finished - intended, error)

    def run(
        self,
        points: list[tuple[float, float]],
        linear: bool,
        *,
        poisson: bool,
        spin_s: float,
        stopping: Callable[[], bool],
        rng: random.Random | None = None,
        phase_s: float = 0.0,
        from_now: bool = False,
    ) -> gevent.pool.Group:
        """Schedule requests from now until `stopping()`; return the group still sending.

        `points` and `linear` are the rate profile (see `rate_at`), in time since the recorder's origin (shared
        by every worker of a distributed run, so their profiles line up); `spin_s` is `LoadSpec.spin_ms` in s;
        `phase_s` shifts this worker's first request (constant arrivals split over workers interleave).
        """
        rng = rng or random.Random()
        rec = self.recorder
        # one process: from the recorder's origin, as it always did; a worker joining a shared origin late starts
        # at the present instead of sending the schedule it missed in a burst
        offset, n = (max(0.0, time.monotonic() - rec.mono0) if from_now else 0.0) + phase_s, 0
        pool = gevent.pool.Group()
        while not stopping():
            intended = rec.mono0 + offset
            delay = intended - time.monotonic()
            if delay > spin_s:
                gevent.sleep(delay - spin_s)
            # gevent's timers fire up to ~1 ms late: cover the last stretch by yielding to other greenlets
            # (responses keep flowing) until the intended time, instead of one coarse sleep
            while time.monotonic() < intended and not stopping():
                gevent.sleep(0)
            if stopping():
                break
            pool.spawn(self.request, rec.begin(intended), intended, n)
            n += 1
            # the rate at the current intended time: a piecewise (or linear) profile changes slowly next to
            # the gaps between requests, so drawing each gap at the current rate follows it closely
            rate = rate_at(points, linear, offset)
            offset += rng.expovariate(rate) if poisson else 1.0 / rate
        return pool
