"""Open-loop KServe v2 load for Locust, run in its own process by `resilience.load.LoadGenerator`.

Never import this module outside Locust: importing locust monkey-patches the process with gevent.

One user (`fixed_count = 1`) runs a scheduler that spawns each request greenlet at its intended
time (constant or exponential gaps) and never waits for responses, so a stalled server cannot make
it send less. Latency is measured from the intended time. Requests are grouped by intended time into
slices; each slice's HDR histograms go to the parent over ZeroMQ once all its requests finished.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time

import gevent
import gevent.pool
import numpy as np
import tritonclient.http as triton_http
import zmq.green as zmq
from hdrh.histogram import HdrHistogram
from locust import User, events, task
from locust.exception import StopUser

from resilience.load.spec import rate_at

if sys.argv[sys.argv.index("--kserve-protocol") + 1 :][:1] == ["grpc"] if "--kserve-protocol" in sys.argv else False:
    # gRPC's core must cooperate with gevent before any channel exists, or one call freezes every greenlet
    import grpc.experimental.gevent

    grpc.experimental.gevent.init_gevent()

HIGHEST_US = 60_000_000
_state: dict[str, object] = {"stopping": False}


@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:  # type: ignore[no-untyped-def]
    group = parser.add_argument_group("resilience open-loop load")
    group.add_argument("--target", default="127.0.0.1:8000", help="host:port of a KServe v2 HTTP endpoint")
    group.add_argument("--model-name", default="qc_cnn")
    group.add_argument("--input-name", default="images")
    group.add_argument("--payload", required=True, help=".npy of uint8 images (N x H x W x C)")
    group.add_argument("--rate", type=float, default=100.0)
    group.add_argument("--arrival", choices=["constant", "poisson"], default="poisson")
    group.add_argument("--rate-profile", default="", help='JSON {"points": [[t, rate], ...], "linear": bool}')
    group.add_argument("--kserve-protocol", choices=["http", "grpc"], default="http")
    group.add_argument("--spin-ms", type=float, default=0.0, help="yield-wait this long before each request")
    group.add_argument("--request-timeout", type=float, default=2.0)
    group.add_argument("--slice-s", type=float, default=0.25)
    group.add_argument("--concurrency", type=int, default=64)
    group.add_argument("--zmq-endpoint", required=True)


def _hist() -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_US, 3)


class _Slice:
    __slots__ = ("errors", "failed", "inflight", "lag", "latency", "ok")

    def __init__(self) -> None:
        self.latency, self.lag = _hist(), _hist()
        self.ok = self.failed = self.inflight = 0
        self.errors: dict[str, int] = {}


class Recorder:
    """Per-slice counters and histograms, keyed by intended send time."""

    def __init__(self, sock, slice_s: float, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
        self.sock, self.slice_s, self.timeout_s = sock, slice_s, timeout_s
        self.mono0 = time.monotonic()
        self.wall0 = time.time()
        self.slices: dict[int, _Slice] = {}
        self.sent = 0

    def index(self, intended: float) -> int:
        return int((intended - self.mono0) / self.slice_s)

    def begin(self, intended: float, lag_s: float) -> int:
        i = self.index(intended)
        s = self.slices.setdefault(i, _Slice())
        s.inflight += 1
        s.lag.record_value(min(max(int(lag_s * 1e6), 1), HIGHEST_US))
        self.sent += 1
        return i

    def end(self, i: int, latency_s: float, error: str | None) -> None:
        s = self.slices[i]
        s.inflight -= 1
        if error is None:
            s.ok += 1
            s.latency.record_value(min(max(int(latency_s * 1e6), 1), HIGHEST_US))
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
            self.sock.send_json(
                {
                    "type": "slice",
                    "index": i,
                    "start": self.wall0 + i * self.slice_s,
                    "end": self.wall0 + (i + 1) * self.slice_s,
                    "ok": s.ok,
                    "failed": s.failed + s.inflight,
                    "errors": s.errors | ({"unfinished": s.inflight} if s.inflight else {}),
                    "latency": s.latency.encode().decode() if s.ok else "",
                    "lag": s.lag.encode().decode() if s.lag.get_total_count() else "",
                }
            )


class OpenLoopUser(User):
    fixed_count = 1

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.opts = opts
        images = np.load(opts.payload)
        self.inputs = []
        if opts.kserve_protocol == "grpc":
            import tritonclient.grpc as triton_grpc

            for img in images:
                inp = triton_grpc.InferInput(opts.input_name, [1, *img.shape], "UINT8")
                inp.set_data_from_numpy(img[None, ...])
                self.inputs.append(inp)
            self.client = triton_grpc.InferenceServerClient(opts.target)
        else:
            for img in images:
                inp = triton_http.InferInput(opts.input_name, [1, *img.shape], "UINT8")
                inp.set_data_from_numpy(img[None, ...], binary_data=True)
                self.inputs.append(inp)
            self.client = triton_http.InferenceServerClient(
                opts.target,
                concurrency=opts.concurrency,
                connection_timeout=opts.request_timeout,
                network_timeout=opts.request_timeout,
            )
        ctx = zmq.Context.instance()
        self.sock = ctx.socket(zmq.PUSH)
        self.sock.setsockopt(zmq.LINGER, 2000)
        self.sock.connect(opts.zmq_endpoint)
        self.recorder = Recorder(self.sock, opts.slice_s, opts.request_timeout)
        _state["user"] = self
        self.flusher = gevent.spawn(self._flush_loop)
        self.sock.send_json({"type": "hello", "wall0": self.recorder.wall0})

    def _flush_loop(self) -> None:
        while True:
            gevent.sleep(self.opts.slice_s / 4)
            self.recorder.flush()

    def _send(self, i: int, intended: float, image_no: int) -> None:
        error = None
        try:
            if self.opts.kserve_protocol == "grpc":
                self.client.infer(
                    self.opts.model_name, [self.inputs[image_no]], client_timeout=self.opts.request_timeout
                )
            else:
                self.client.infer(
                    self.opts.model_name, [self.inputs[image_no]], timeout=int(self.opts.request_timeout * 1e6)
                )
        except Exception as exc:  # noqa: BLE001 - every failure is a measured outcome
            status = getattr(exc, "status", lambda: None)()
            error = f"{self.opts.kserve_protocol} {status}" if status else type(exc).__name__
        finished = time.monotonic()
        self.recorder.end(i, finished - intended, error)
        events.request.fire(
            request_type="infer",
            name=self.opts.model_name,
            response_time=(finished - intended) * 1000,
            response_length=0,
            exception=error and RuntimeError(error),
            context={},
        )

    @task
    def schedule(self) -> None:
        poisson = self.opts.arrival == "poisson"
        spin_s = self.opts.spin_ms / 1000
        profile = (
            json.loads(self.opts.rate_profile)
            if self.opts.rate_profile
            else {"points": [[0, self.opts.rate]], "linear": False}
        )
        points = [(float(t), float(r)) for t, r in profile["points"]]
        rng = random.Random()
        rec = self.recorder
        offset, n = 0.0, 0
        pool = gevent.pool.Group()
        while not _state["stopping"]:
            intended = rec.mono0 + offset
            delay = intended - time.monotonic()
            if delay > spin_s:
                gevent.sleep(delay - spin_s)
            # gevent's timers fire up to ~1 ms late: cover the last stretch by yielding to other greenlets
            # (responses keep flowing) until the intended time, instead of one coarse sleep
            while time.monotonic() < intended and not _state["stopping"]:
                gevent.sleep(0)
            if _state["stopping"]:
                break
            i = rec.begin(intended, time.monotonic() - intended)
            pool.spawn(self._send, i, intended, n % len(self.inputs))
            n += 1
            # the rate at the current intended time: a piecewise (or linear) profile changes slowly next to
            # the gaps between requests, so drawing each gap at the current rate follows it closely
            rate = rate_at(points, profile["linear"], offset)
            offset += rng.expovariate(rate) if poisson else 1.0 / rate
        pool.join(timeout=self.opts.request_timeout + 1.0)
        self.flusher.kill()
        rec.flush(force=True)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.sock.send_json(
            {
                "type": "end",
                "sent": rec.sent,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "wall_s": time.time() - rec.wall0,
            }
        )
        _state["done"] = True
        raise StopUser  # the schedule runs once per process


@events.test_stopping.add_listener
def _on_stopping(**_kwargs) -> None:  # type: ignore[no-untyped-def]
    _state["stopping"] = True


@events.test_stop.add_listener
def _on_stop(**_kwargs) -> None:  # type: ignore[no-untyped-def]
    _state["stopping"] = True
    deadline = time.monotonic() + 10
    while "user" in _state and not _state.get("done") and time.monotonic() < deadline:
        gevent.sleep(0.05)
