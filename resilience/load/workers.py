"""Load past one process: Locust's distributed mode, with every percentile from merged HDR histograms.

`load: {workers: N}` starts Locust's own master and N worker processes (more can join from other machines:
`resilience load worker --master HOST:PORT`). Each worker runs our open-loop scheduler for 1/N of the
rate (independent Poisson streams add up to the declared Poisson process; constant arrivals interleave) on
a schedule origin shared by all, and sends its per-slice HDR histograms to the master over Locust's own
connection; the master relays them to the toolkit. The toolkit merges slice i once every worker still
sending is past it: counts add, histograms merge exactly (`Histogram.add`), never Locust's buckets.

A worker that dies or falls behind is named, with the share of its schedule it missed, and the run that
lost part of its load is never a pass (`problems()` becomes a run error, exit 3).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from resilience.errors import LoadError
from resilience.load import messages
from resilience.load.generator import LOCUSTFILE, LoadGenerator
from resilience.load.spec import LoadSpec
from resilience.model import Histogram, LoadSummary, Slice, WorkerSummary
from resilience.targets.helperprocess import HelperProcess, Readiness

log = logging.getLogger(__name__)

FALLING_BEHIND = 0.10
"""A worker that sent less than 90% of its share of the schedule fell behind: the run is missing load."""


@dataclass
class _Worker:
    index: int
    slices: dict[int, Slice] = field(default_factory=dict)
    through: float = 0.0
    started_at: float | None = None
    end: messages.End | None = None
    lost: str | None = None
    proc: HelperProcess | None = None

    @property
    def done(self) -> bool:
        return self.end is not None or self.lost is not None


def merge(parts: list[Slice], received_at: float) -> Slice:
    """One slice from every worker's part of it: counts added, HDR histograms merged exactly."""
    latency, lag = Histogram(), Histogram()
    errors: dict[str, int] = {}
    for p in parts:
        latency.add(Histogram.decode(p.latency_hdr))
        lag.add(Histogram.decode(p.lag_hdr))
        for k, v in p.errors.items():
            errors[k] = errors.get(k, 0) + v
    first = parts[0]
    return Slice(
        index=first.index,
        start=first.start,
        end=first.end,
        ok=sum(p.ok for p in parts),
        failed=sum(p.failed for p in parts),
        latency_hdr=latency.encode(),
        lag_hdr=lag.encode(),
        errors=errors,
        received_at=received_at,
    )


class DistributedLoadGenerator(LoadGenerator):
    """A Locust master (a relay) and `spec.workers` local worker processes, each sending 1/N of the schedule."""

    def __init__(
        self, spec: LoadSpec, *, target: str, payload: Path, model: str, input_name: str, log_path: Path
    ) -> None:
        super().__init__(spec, target=target, payload=payload, model=model, input_name=input_name, log_path=log_path)
        n = self.spec.processes
        self.workers = {i: _Worker(i) for i in range(1, n + 1)}
        self._merged: dict[int, Slice] = {}
        self._local: list[HelperProcess] = []
        """The worker processes started here (Locust numbers workers as they connect: Hello's pid says which)."""
        self.epoch0 = 0.0
        self.master_port = 0

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self, ready_timeout_s: float = 60.0) -> None:
        s = self.spec
        relay = self._sock.bind_to_random_port("tcp://127.0.0.1")
        self.master_port = s.master_port or _free_port(s.master_bind)
        self.epoch0 = time.time() + 1.0  # every worker's slice i covers the same second, wherever it runs
        self._thread = self._reader()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as logf:
            self._proc = HelperProcess.spawn(
                self._master_command(relay), "load master", output=logf, env=env, death_signal=signal.SIGTERM
            )
            for k in range(s.workers):
                self._local.append(
                    HelperProcess.spawn(
                        worker_command(self._shared_args(), "127.0.0.1", self.master_port),
                        f"load worker process {k + 1}",
                        output=logf,
                        env=env,
                        death_signal=signal.SIGTERM,
                    )
                )
        ready = self._proc.wait_ready(ready_timeout_s, ready=lambda: self._hello.wait(0.1), poll_s=0)
        if ready is not Readiness.READY:
            self._kill()
            raise LoadError(f"the load workers did not all start (see {self.log_path}):\n{self._log_tail()}")
        log.info(
            "load: %s %.0f req/s to %s over %d Locust workers (master pid %d, port %d)",
            s.arrival.value, s.rate, self.target, s.processes, self._proc.pid, self.master_port,
        )  # fmt: skip
        if s.warmup_s:
            self.wait_until(time.time() + s.warmup_s)

    def _shared_args(self) -> list[str]:
        """Our locustfile's own arguments, the same for the master and every worker."""
        args = self._command(0)
        return [
            *args[args.index("--target") :],
            "--workers-total",
            str(self.spec.processes),
            "--epoch0",
            str(self.epoch0),
        ]

    def _master_command(self, relay_port: int) -> list[str]:
        s, n = self.spec, self.spec.processes
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--master", "--headless"]
        cmd += ["--master-bind-host", s.master_bind, "--master-bind-port", str(self.master_port)]
        cmd += ["--expect-workers", str(n), "--expect-workers-max-wait", "60", "-u", str(n), "-r", str(n)]
        cmd += ["-t", f"{int(s.max_duration_s)}s", "--stop-timeout", str(int(s.timeout_s) + 5), "--only-summary"]
        cmd += ["--loglevel", "WARNING", "--exit-code-on-error", "0", "--skip-log-setup"]
        args = self._shared_args()
        at = args.index("--zmq-endpoint")
        args[at + 1] = f"tcp://127.0.0.1:{relay_port}"
        return cmd + args

    def stop(self) -> LoadSummary:
        """Ask the master to end every worker's schedule, wait for their last slices, then stop the processes."""
        if self._proc is not None and self._proc.running:
            os.kill(self._proc.pid, signal.SIGUSR2)
        deadline = time.monotonic() + self.spec.timeout_s + 10
        with self._lock:
            while not all(w.done for w in self.workers.values()) and time.monotonic() < deadline:
                self._note_dead_workers()
                self._lock.wait(0.1)
        for proc in self._local:
            proc.stop(timeout_s=self.spec.timeout_s + 5)
        if self._proc is not None:
            self._proc.stop(timeout_s=self.spec.timeout_s + 5)
        return self._close()

    def _kill(self) -> None:
        for proc in self._local:
            proc.kill()
        super()._kill()

    def _note_dead_workers(self) -> None:
        """A local worker process that exited before its End is lost at once (call with the lock held)."""
        for w in self.workers.values():
            if w.proc is not None and not w.proc.running and not w.done:
                w.lost = f"its process (pid {w.proc.pid}) exited with {w.proc.returncode} before its schedule ended"
                log.error("load worker %d lost: %s", w.index, w.lost)
                self._lock.notify_all()

    # -- collection -------------------------------------------------------------------------------------
    def _receive(self, msg: messages.Message) -> None:
        w = self.workers.get(msg.worker)
        if w is None:
            log.warning("a load worker this run did not expect (%d) sent %s; ignored", msg.worker, msg.type)
            return
        with self._lock:
            if isinstance(msg, messages.Hello):
                if w.started_at is not None:
                    return  # said hello already
                self.started_at = self.epoch0
                w.proc = next((p for p in self._local if p.pid == msg.pid), None)
                if all(x.through or x is w for x in self.workers.values()):
                    self._hello.set()
                w.through = max(w.through, msg.wall0)
                w.started_at = msg.started_at
            elif isinstance(msg, messages.SliceDone):
                w.slices[msg.index] = msg.to_slice()
                w.through = max(w.through, msg.through or 0.0)
            elif isinstance(msg, messages.Progress):
                w.through = max(w.through, msg.through)
            elif isinstance(msg, messages.WorkerLost):
                if not w.done:
                    w.lost = msg.reason
                    log.error("load worker %d lost: %s", w.index, msg.reason)
            elif w.end is None:  # the first End is the schedule's (a second one would be a restarted user's)
                w.end = msg
            self._lock.notify_all()

    def _complete_through(self) -> float:
        """Wall time before which every worker still sending has sent everything (call with the lock held)."""
        open_ = [w.through for w in self.workers.values() if not w.done]
        return min(open_) if open_ else float("inf")

    def slices(self) -> list[Slice]:
        """Merged slices, each once every worker still sending is past it, ordered by start time."""
        with self._lock:
            through = self._complete_through()
            indexes = {i for w in self.workers.values() for i in w.slices} - set(self._merged)
            now = time.time()
            for i in sorted(indexes):
                parts = [w.slices[i] for w in self.workers.values() if i in w.slices]
                if parts[0].end <= through + 1e-6:
                    self._merged[i] = merge(parts, now)
            return [self._merged[i] for i in sorted(self._merged)]

    def wait_until(self, wall: float, timeout_s: float | None = None) -> list[Slice]:
        limit = time.monotonic() + (
            timeout_s if timeout_s is not None else (wall - time.time()) + self.spec.timeout_s + 5
        )
        with self._lock:
            while self._complete_through() < wall - 1e-6:
                self._note_dead_workers()
                if self._proc is not None and not self._proc.running:
                    raise LoadError(f"the load master died (see {self.log_path}):\n{self._log_tail()}")
                if time.monotonic() > limit:
                    raise LoadError(f"no measurements arrived for {timeout_s or 0:.0f} s (see {self.log_path})")
                self._lock.wait(0.1)
        return self.slices()

    def summary(self) -> LoadSummary:
        base = super().summary()
        starts = [w.started_at for w in self.workers.values() if w.started_at is not None]
        ends = [w.end.ended_at for w in self.workers.values() if w.end is not None and w.end.ended_at is not None]
        # every worker's share of the schedule the run as a whole sent: from the first send to the last
        window = (max(ends) - min(starts)) if starts and ends else base.duration_s
        share = 1.0 / len(self.workers)
        workers = []
        for w in self.workers.values():
            sent = w.end.sent if w.end is not None else sum(s.total for s in w.slices.values())
            workers.append(
                WorkerSummary(
                    worker=w.index,
                    share=round(share, 4),
                    sent=sent,
                    expected=round(share * self._mean_rate(window) * window, 1),
                    cpu_s=w.end.cpu_s if w.end is not None else None,
                    schedule_lag_p99_ms=w.end.lag_p99_ms if w.end is not None else None,
                    lost=w.lost,
                )
            )
        cpu = [x.cpu_s for x in workers if x.cpu_s is not None]
        return LoadSummary(
            **{k: getattr(base, k) for k in ("requests", "failures", "duration_s", "target_rps", "achieved_rps")},
            schedule_lag_p99_ms=base.schedule_lag_p99_ms,
            generator_cpu_s=round(sum(cpu), 3) if cpu else None,
            errors=base.errors,
            workers=tuple(workers),
        )


def behind(w: WorkerSummary) -> bool:
    """It sent clearly less than its share asked for: more than 10% short, and more than Poisson noise
    explains (4 standard deviations of its expected count)."""
    noise = 4 * w.expected**0.5 / w.expected if w.expected > 0 else 1.0
    return w.missed_share > max(FALLING_BEHIND, noise)


def problems(summary: LoadSummary) -> list[str]:
    """Why a run that spread its load is missing part of it: each lost or lagging worker, with what it missed."""
    out = []
    for w in summary.workers:
        if w.lost is not None:
            out.append(f"load worker {w.worker} was lost ({w.lost}): {w.missed_share:.0%} of its share not sent")
        elif behind(w):
            out.append(
                f"load worker {w.worker} fell behind: it sent {w.sent} of the {w.expected:.0f} requests its share "
                f"of the schedule asked for ({w.missed_share:.0%} missed); give it a core of its own or add workers"
            )
    return out


def worker_command(shared_args: list[str], master_host: str, master_port: int) -> list[str]:
    """A Locust worker of our locustfile joining the master at host:port."""
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker"]
    cmd += [
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "--loglevel",
        "WARNING",
        "--skip-log-setup",
    ]
    return cmd + shared_args


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


__all__ = ["DistributedLoadGenerator", "merge", "problems", "worker_command"]
