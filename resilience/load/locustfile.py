"""Open-loop KServe v2 load for Locust, run in its own process by `resilience.load.LoadGenerator`.

Never import this module outside Locust: importing locust monkey-patches the process with gevent.

One user (`fixed_count = 1`) runs the open-loop schedule (`resilience.load.openloop`): each request in
its own greenlet at its intended time, latency from the intended time, schedule lag taken just before
the send. Each slice's HDR histograms go to the parent over ZeroMQ once all its requests finished.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import gevent
import numpy as np
import tritonclient.http as triton_http
import zmq.green as zmq
from locust import User, events, task
from locust.exception import StopUser

from resilience.load.messages import End, Hello, Progress, WorkerLost
from resilience.load.openloop import OpenLoop, Recorder

DISTRIBUTED = "--master" in sys.argv or "--worker" in sys.argv
"""Locust's distributed mode (`load: {workers: N}`): a master that relays, and workers that each send a share."""
RELAY = "resilience"
"""The custom Locust message a worker's measurements travel in to the master."""

if sys.argv[sys.argv.index("--kserve-protocol") + 1 :][:1] == ["grpc"] if "--kserve-protocol" in sys.argv else False:
    # gRPC's core must cooperate with gevent before any channel exists, or one call freezes every greenlet
    import grpc.experimental.gevent

    grpc.experimental.gevent.init_gevent()

_state: dict[str, object] = {"stopping": False}


@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:  # type: ignore[no-untyped-def]
    group = parser.add_argument_group("resilience open-loop load")
    group.add_argument("--target", default="127.0.0.1:8000", help="host:port of a KServe v2 HTTP endpoint")
    group.add_argument("--model-name", default="qc_cnn")
    group.add_argument("--input-name", default="images")
    group.add_argument("--payload", default="", help=".npy of uint8 images (N x H x W x C); a worker gets the master's")
    group.add_argument("--rate", type=float, default=100.0)
    group.add_argument("--arrival", choices=["constant", "poisson"], default="poisson")
    group.add_argument("--rate-profile", default="", help='JSON {"points": [[t, rate], ...], "linear": bool}')
    group.add_argument("--kserve-protocol", choices=["http", "grpc"], default="http")
    group.add_argument("--spin-ms", type=float, default=0.0, help="yield-wait this long before each request")
    group.add_argument("--request-timeout", type=float, default=2.0)
    group.add_argument("--slice-s", type=float, default=0.25)
    group.add_argument("--concurrency", type=int, default=64)
    group.add_argument("--zmq-endpoint", default="", help="where the master (or the only process) pushes to")
    group.add_argument("--workers-total", type=int, default=0, help="workers sharing the rate (0: this process alone)")
    group.add_argument("--epoch0", type=float, default=0.0, help="the schedule's shared origin (wall time)")


class _MasterSink:
    """A worker's measurements, sent to the master over Locust's own connection (which relays them)."""

    def __init__(self, runner) -> None:  # type: ignore[no-untyped-def]
        self.runner = runner

    def send_json(self, obj: object) -> None:
        self.runner.send_message(RELAY, obj)


class OpenLoopUser(User):
    fixed_count = 0 if DISTRIBUTED else 1  # distributed: `-u N` gives each of the N workers one user

    def on_start(self) -> None:
        if "user" in _state:  # Locust may start a user again after ours stopped: the schedule runs once
            raise StopUser
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
        runner = self.environment.runner
        if DISTRIBUTED:
            self.sock = _MasterSink(runner)
            self.worker, self.share = int(runner.worker_index) + 1, 1.0 / max(1, opts.workers_total)
        else:
            ctx = zmq.Context.instance()
            self.sock = ctx.socket(zmq.PUSH)
            self.sock.setsockopt(zmq.LINGER, 2000)
            self.sock.connect(opts.zmq_endpoint)
            self.worker, self.share = 0, 1.0
        self.recorder = Recorder(self.sock, opts.slice_s, opts.request_timeout, opts.epoch0 or None, self.worker)
        _state["user"] = self
        self.flusher = gevent.spawn(self._flush_loop)
        hello = Hello(worker=self.worker, wall0=self.recorder.wall0, started_at=time.time(), pid=os.getpid())
        self.sock.send_json(hello.model_dump())

    def _flush_loop(self) -> None:
        while True:
            gevent.sleep(self.opts.slice_s / 4)
            self.recorder.flush()
            if DISTRIBUTED:  # the parent merges a slice once every worker is past it, requests or none
                self.sock.send_json(Progress(worker=self.worker, through=self.recorder.through()).model_dump())

    def _send(self, n: int) -> str | None:
        image = self.inputs[n % len(self.inputs)]
        try:
            if self.opts.kserve_protocol == "grpc":
                self.client.infer(self.opts.model_name, [image], client_timeout=self.opts.request_timeout)
            else:
                self.client.infer(self.opts.model_name, [image], timeout=int(self.opts.request_timeout * 1e6))
        except Exception as exc:  # noqa: BLE001 - every failure is a measured outcome
            status = getattr(exc, "status", lambda: None)()
            return f"{self.opts.kserve_protocol} {status}" if status else type(exc).__name__
        return None

    def _done(self, latency_s: float, error: str | None) -> None:
        events.request.fire(
            request_type="infer",
            name=self.opts.model_name,
            response_time=latency_s * 1000,
            response_length=0,
            exception=error and RuntimeError(error),
            context={},
        )

    @task
    def schedule(self) -> None:
        profile = (
            json.loads(self.opts.rate_profile)
            if self.opts.rate_profile
            else {"points": [[0, self.opts.rate]], "linear": False}
        )
        rec = self.recorder
        points = [(float(t), float(r) * self.share) for t, r in profile["points"]]
        constant = self.opts.arrival != "poisson"
        pool = OpenLoop(rec, self._send, self._done).run(
            points,
            profile["linear"],
            poisson=not constant,
            spin_s=self.opts.spin_ms / 1000,
            stopping=lambda: bool(_state["stopping"]),
            # constant arrivals over N workers interleave: worker k starts k gaps of the whole rate later
            phase_s=(self.worker - 1) / points[0][1] * self.share if constant and self.worker else 0.0,
            from_now=DISTRIBUTED,
        )
        ended_at = time.time()
        pool.join(timeout=self.opts.request_timeout + 1.0)
        self.flusher.kill()
        rec.flush(force=True)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.sock.send_json(
            End(
                worker=self.worker,
                sent=rec.sent,
                cpu_s=usage.ru_utime + usage.ru_stime,
                wall_s=time.time() - rec.wall0,
                lag_p99_ms=rec.lag.percentile_ms(99),
                ended_at=ended_at,
            ).model_dump()
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


@events.init.add_listener
def _on_init(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    """The master relays its workers' measurements to the toolkit, and says when it lost one; the toolkit
    asks it (SIGUSR2) to tell every worker to finish its schedule, so each sends its last slices and its End."""
    from locust.runners import MasterRunner

    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        if DISTRIBUTED:
            runner.register_message("resilience-stop", lambda **_kw: _state.update(stopping=True))
        return
    sock = zmq.Context.instance().socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(environment.parsed_options.zmq_endpoint)
    runner.register_message(RELAY, lambda msg, **_kw: sock.send_json(msg.data))

    def stop_workers(*_args) -> None:  # type: ignore[no-untyped-def]
        gevent.spawn(runner.send_message, "resilience-stop")

    import signal

    signal.signal(signal.SIGUSR2, stop_workers)

    def watch() -> None:
        lost: set[str] = set()
        while True:
            gevent.sleep(0.5)
            for node in list(runner.clients.values()):
                if node.state == "missing" and node.id not in lost:
                    lost.add(node.id)
                    index = runner.get_worker_index(node.id) + 1
                    why = "its heartbeats stopped (Locust marked it missing)"
                    sock.send_json(WorkerLost(worker=index, at=time.time(), reason=why).model_dump())

    gevent.spawn(watch)
