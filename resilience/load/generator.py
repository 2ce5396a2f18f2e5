"""Run the open-loop Locust generator in its own process and collect its slices.

The parent never imports locust or gevent: it starts `locust --headless` on our locustfile, binds a
ZeroMQ PULL socket the locustfile pushes slices to, and keeps them in arrival order.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import zmq
from pydantic import ValidationError

from resilience.errors import LoadError
from resilience.load import messages
from resilience.load.spec import LoadSpec, rate_at
from resilience.model import LoadSummary, Slice, merge_lag
from resilience.targets.helperprocess import HelperProcess, Readiness

log = logging.getLogger(__name__)

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


class LoadGenerator:
    """One Locust process sending open-loop load to a KServe v2 HTTP endpoint (`resilience.load.generator_for`
    picks Locust's distributed mode when the spec asks for workers)."""

    def __init__(
        self, spec: LoadSpec, *, target: str, payload: Path, model: str, input_name: str, log_path: Path
    ) -> None:
        self.spec = spec
        self.target = target
        self.payload = payload
        self.model = model
        self.input_name = input_name
        self.log_path = log_path
        self._slices: list[Slice] = []
        self._lock = threading.Condition()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.PULL)
        self._proc: HelperProcess | None = None
        self._extra: HelperProcess | None = None
        self._thread: threading.Thread | None = None
        self._hello = threading.Event()
        self._end: messages.End | None = None
        self._stop_reading = threading.Event()
        self.started_at: float | None = None
        self.stopped_at: float | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self, ready_timeout_s: float = 60.0) -> None:
        """Start Locust and return once it has said hello (and after the warm-up, if the spec has one)."""
        port = self._sock.bind_to_random_port("tcp://127.0.0.1")
        self._thread = self._reader()
        s = self.spec
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as logf:  # drained to a file, never a pipe; the child keeps its own copy
            self._proc = HelperProcess.spawn(
                self._command(port),
                "load generator",
                output=logf,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
                death_signal=signal.SIGTERM,  # load never outlives a run, even a `kill -9`ed toolkit
            )
        if self._proc.wait_ready(ready_timeout_s, ready=lambda: self._hello.wait(0.1), poll_s=0) is not Readiness.READY:
            self._kill()
            raise LoadError(f"the load generator did not start (see {self.log_path}):\n{self._log_tail()}")
        log.info("load: %s %.0f req/s to %s (pid %d)", s.arrival.value, s.rate, self.target, self._proc.pid)
        if s.web_ui_port:
            log.info("Locust web UI: http://127.0.0.1:%d", s.web_ui_port)
        if s.extra_locustfile:
            self._start_extra(s.extra_locustfile, s.extra_users, logf_path=self.log_path.with_name("locust-extra.log"))
        if s.warmup_s:
            self.wait_until(time.time() + s.warmup_s)

    def _command(self, port: int) -> list[str]:
        """The Locust command line: our locustfile, open-loop at the spec's rate, pushing slices to `port`."""
        s = self.spec
        return [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            *(
                ["--autostart", "--web-host", "127.0.0.1", "--web-port", str(s.web_ui_port)]
                if s.web_ui_port
                else ["--headless"]
            ),
            "-u",
            "1",
            "-r",
            "1",
            "-t",
            f"{int(s.max_duration_s)}s",
            "--stop-timeout",
            str(int(s.timeout_s) + 5),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
            "--skip-log-setup",
            "--target",
            self.target,
            "--model-name",
            self.model,
            "--input-name",
            self.input_name,
            "--payload",
            str(self.payload),
            "--rate",
            str(s.rate),
            "--arrival",
            s.arrival.value,
            "--rate-profile",
            json.dumps({"points": s.profile()[0], "linear": s.profile()[1]}),
            "--kserve-protocol",
            s.protocol,
            "--spin-ms",
            str(s.spin_ms),
            "--request-timeout",
            str(s.timeout_s),
            "--slice-s",
            str(s.slice_s),
            "--concurrency",
            str(s.concurrency),
            "--zmq-endpoint",
            f"tcp://127.0.0.1:{port}",
        ]

    def _start_extra(self, locustfile: str, users: int, logf_path: Path) -> None:
        """The user's own locustfile as background traffic, tied to this run's life like the generator."""
        if not Path(locustfile).is_file():
            self._kill()
            raise LoadError(f"extra_locustfile: {locustfile} does not exist; give the path of a locustfile")
        host = self.target if "://" in self.target else f"http://{self.target}"
        cmd = [sys.executable, "-m", "locust", "-f", locustfile, "--headless", "-u", str(users), "-r", str(users)]
        cmd += ["-H", host, "-t", f"{int(self.spec.max_duration_s)}s", "--only-summary", "--exit-code-on-error", "0"]
        with open(logf_path, "ab") as logf:
            self._extra = HelperProcess.spawn(cmd, "background load", output=logf, death_signal=signal.SIGTERM)
        log.info("background load: %s with %d users (pid %d)", locustfile, users, self._extra.pid)

    def stop(self) -> LoadSummary:
        """Stop sending, wait for in-flight requests and the last slices, and summarise."""
        extra, self._extra = self._extra, None
        if extra is not None:
            extra.stop(timeout_s=10)
        if self._proc is not None:
            self._proc.stop(timeout_s=self.spec.timeout_s + 15)  # in-flight requests may take their timeout
        deadline = time.monotonic() + 2
        with self._lock:
            while self._end is None and time.monotonic() < deadline:
                self._lock.wait(0.1)
        return self._close()

    def _close(self) -> LoadSummary:
        """Stop collecting, release the socket, and summarise."""
        self._stop_reading.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._sock.close(linger=0)
        self._ctx.term()
        self.stopped_at = time.time()
        return self.summary()

    def _mean_rate(self, duration: float) -> float:
        """The rate the profile asked for on average over the first `duration` seconds."""
        points, linear = self.spec.profile()
        if len(points) == 1 or duration <= 0:
            return self.spec.rate
        steps = max(1, int(duration / 0.05))
        return sum(rate_at(points, linear, (i + 0.5) * duration / steps) for i in range(steps)) / steps

    def _kill(self) -> None:
        for proc in (self._extra, self._proc):
            if proc is not None:
                proc.kill()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- collection ---------------------------------------------------------------------------------
    def _reader(self) -> threading.Thread:
        thread = threading.Thread(target=self._read, name="load-collector", daemon=True)
        thread.start()
        return thread

    def _read(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        while not self._stop_reading.is_set():
            if not poller.poll(100):
                continue
            raw = self._sock.recv_json()
            try:
                msg = messages.parse(raw)
            except ValidationError as exc:  # another version's generator, or a bug: say so, keep reading
                log.error("the load generator sent a message this toolkit cannot read (%s): %.200s", exc, raw)
                continue
            self._receive(msg)

    def _receive(self, msg: messages.Message) -> None:
        if isinstance(msg, messages.Hello):
            self.started_at = msg.wall0
            self._hello.set()
        elif isinstance(msg, messages.SliceDone):
            sl = msg.to_slice()
            with self._lock:
                self._slices.append(sl)
                self._lock.notify_all()
        elif isinstance(msg, messages.End):
            with self._lock:
                self._end = msg
                self._lock.notify_all()

    def slices(self) -> list[Slice]:
        """All slices received so far, ordered by start time."""
        with self._lock:
            return sorted(self._slices, key=lambda s: s.index)

    def wait_until(self, wall: float, timeout_s: float | None = None) -> list[Slice]:
        """Block until every slice ending at or before `wall` has arrived; return all slices."""
        limit = time.monotonic() + (
            timeout_s if timeout_s is not None else (wall - time.time()) + self.spec.timeout_s + 5
        )
        with self._lock:
            while True:
                done = max((s.end for s in self._slices), default=0.0) >= wall - 1e-6
                if done or self._end is not None:
                    break
                if self._proc is not None and not self._proc.running:
                    raise LoadError(f"the load generator died (see {self.log_path}):\n{self._log_tail()}")
                if time.monotonic() > limit:
                    raise LoadError(f"no measurements arrived for {timeout_s or 0:.0f} s (see {self.log_path})")
                self._lock.wait(0.1)
        return self.slices()

    @property
    def pid(self) -> int | None:
        """The Locust process's pid while it runs (e.g. to pin it to a core)."""
        return self._proc.pid if self._proc is not None and self._proc.running else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.running

    def summary(self) -> LoadSummary:
        slices = self.slices()
        requests = sum(s.total for s in slices)
        failures = sum(s.failed for s in slices)
        duration = (slices[-1].end - slices[0].start) if slices else 0.0
        errors: dict[str, int] = {}
        for s in slices:
            for k, v in s.errors.items():
                errors[k] = errors.get(k, 0) + v
        end = self._end
        return LoadSummary(
            requests=requests,
            failures=failures,
            duration_s=round(duration, 3),
            target_rps=round(self._mean_rate(duration), 2),
            achieved_rps=round(requests / duration, 2) if duration else 0.0,
            schedule_lag_p99_ms=merge_lag(slices).percentile_ms(99),
            generator_cpu_s=end.cpu_s if end is not None else None,
            errors=errors,
        )
