"""The per-pod controller: watch one pod's process, probe it, record how it died, restart it.

One thread per pod runs `PodController.run(pod)`: it reaps the process as its parent (so exit codes and
signals are evidence), probes liveness (a real inference), readiness (model ready) or a stage's
/healthz, keeps the gateway's view in step through the runtime API, and restarts with exponential
backoff (first restart at once), handing the pod to a warm spare when one is ready.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

from reference_platform import probes
from reference_platform.pods import ExitRecord, Launcher, ReplicaPod, clean_workspace, reap_group, wait_ports_closed

if TYPE_CHECKING:
    from reference_platform.config import BackoffConfig, ProbeConfig
    from reference_platform.gateway import RuntimeAPI

log = logging.getLogger("reference_platform.supervisor")

TakeSpare = Callable[[str, int], ReplicaPod | None]
"""A ready warm spare of (region, model version), no longer a spare; None when there is none."""


@dataclass(frozen=True, slots=True)
class PodMetrics:
    """The supervisor's per-pod series the controllers keep."""

    restarts: Counter
    """`supervisor_pod_restarts_total{pod, reason}`"""
    ready: Gauge
    """`supervisor_pod_ready{pod}`"""
    probe_failures: Counter
    """`supervisor_probe_failures_total{pod, probe}`"""


class PodController:
    """Runs every pod's control loop; given what it needs, never the supervisor itself.

    `lock` is the supervisor's lock over its pods' state (what `status` reads); `take_spare` is None
    without warm spares.
    """

    def __init__(
        self,
        *,
        launcher: Launcher,
        gateway: RuntimeAPI,
        probing: ProbeConfig,
        backoff: BackoffConfig,
        probe_body: probes.InferRequest,
        metrics: PodMetrics,
        lock: threading.Lock,
        stopping: threading.Event,
        take_spare: TakeSpare | None = None,
    ) -> None:
        self.launcher, self.gateway = launcher, gateway
        self.probing, self.backoff, self.probe_body = probing, backoff, probe_body
        self.metrics, self.lock, self.stopping, self.take_spare = metrics, lock, stopping, take_spare

    def run(self, pod: ReplicaPod) -> None:
        """Watch one pod until it is retired or the platform stops; a bug here must not orphan the pod."""
        while not self.stopping.is_set() and not pod.retired:
            try:
                self._control(pod)
            except Exception:
                log.exception("%s: controller error; resuming", pod.name)
                self.stopping.wait(1.0)

    def _control(self, pod: ReplicaPod) -> None:
        period = self.probing.period_s
        next_probe = 0.0
        live_failures = 0
        restart_at: float | None = None
        while not self.stopping.is_set() and not pod.retired:
            proc = pod.proc
            if restart_at is not None:
                if time.time() >= restart_at:
                    self._relaunch(pod)
                    restart_at, live_failures, next_probe = None, 0, 0.0
                else:
                    self.stopping.wait(0.05)
                continue
            assert proc is not None
            try:
                rc = proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                rc = None
            if rc is not None:
                exited = f"exited: signal {-rc}" if rc < 0 else f"exited: code {rc}"
                restart_at = self._handle_exit(pod, ExitRecord(proc.pid, rc, time.time(), exited))
                continue
            now = time.monotonic()
            if now < next_probe:
                continue
            next_probe = now + period
            live, ready = self._probe(pod)
            self.set_ready(pod, live and ready)
            started = pod.ready_at is not None and pod.started_at is not None and pod.ready_at >= pod.started_at
            reason: str | None = None
            if pod.crash_loop and pod.ready and time.time() - pod.restart_times[-1] > self.backoff.reset_after_s:
                with self.lock:
                    pod.crash_loop = False
            if not started:  # a startup probe: liveness counts only once the replica has been ready
                if time.time() - (pod.started_at or 0) > self.probing.startup_timeout_s:
                    reason = f"not ready within {self.probing.startup_timeout_s:.0f} s of start"
            elif live:
                live_failures = 0
            else:
                live_failures += 1
                self.metrics.probe_failures.labels(pod.name, "liveness").inc()
                if live_failures >= self.probing.failure_threshold:
                    reason = f"liveness probe failed {live_failures} times"
            if reason is not None:
                log.warning("%s: %s; killing it", pod.name, reason)
                pgid = proc.pid
                reap_group(pgid, timeout_s=5)
                rc = proc.wait()
                restart_at = self._handle_exit(pod, ExitRecord(pgid, rc, time.time(), reason))

    def _handle_exit(self, pod: ReplicaPod, record: ExitRecord) -> float:
        """Record how the pod died, remove every trace of it, and return when to restart it."""
        self.set_ready(pod, False)
        assert pod.proc is not None
        reap_group(pod.proc.pid, timeout_s=5)
        clean_workspace(pod)
        wait_ports_closed([p for p in (pod.http_port, pod.grpc_port, pod.metrics_port) if p], timeout_s=10)
        if pod.retired:
            return time.time()
        if pod.planned_restart:  # a rollout restarting it on purpose: no backoff, not a failure
            with self.lock:
                pod.last_exit = ExitRecord(record.pid, record.returncode, record.at, pod.planned_restart)
                pod.planned_restart = None
            self.metrics.restarts.labels(pod.name, "rollout").inc()
            return time.time()
        now = time.time()
        b = self.backoff
        pod.restart_times = [t for t in pod.restart_times if now - t < b.reset_after_s] + [now]
        recent = len(pod.restart_times)
        delay = 0.0 if recent <= 1 else min(b.max_s, b.initial_s * 2 ** (recent - 2))
        with self.lock:
            pod.last_exit = record
            pod.crash_loop = recent >= b.crash_loop_restarts
        self.metrics.restarts.labels(pod.name, record.reason.split(":")[0].split(" ")[0]).inc()
        log.warning(
            "%s pid %d %s; restart in %.1f s%s",
            pod.name,
            record.pid,
            record.reason,
            delay,
            " (crash loop)" if pod.crash_loop else "",
        )
        return now + delay

    def _relaunch(self, pod: ReplicaPod) -> None:
        spare = None
        if self.take_spare is not None and pod.role == "inference" and pod.variant == "stable":
            spare = self.take_spare(pod.region, pod.model_version)
        with self.lock:
            pod.restarts += 1
            if spare is None:
                self.launcher.start(pod)
                return
            pod.adopt(spare)
        try:
            self.gateway.repoint(pod.name, pod.host, pod.http_port, pod.grpc_port)
        except OSError as exc:
            log.warning("gateway runtime API: %s", exc)
        log.info("%s: warm spare %s (pid %s) took over", pod.name, spare.name, pod.pid)

    def set_ready(self, pod: ReplicaPod, ready: bool) -> None:
        if ready == pod.ready:
            return
        with self.lock:
            pod.ready = ready
            if ready:
                pod.ready_at = time.time()
        self.metrics.ready.labels(pod.name).set(1 if ready else 0)
        if pod.role != "inference" or pod.variant == "shadow":  # not behind the gateway
            log.info("%s %s", pod.name, "ready" if ready else "not ready")
            return
        if ready and not pod.in_rotation:
            log.info("%s ready (out of rotation)", pod.name)
            return
        try:
            self.gateway.set_server_state(pod.name, "ready" if ready else "maint")
        except OSError as exc:
            log.warning("gateway runtime API: %s", exc)
        log.info("%s %s", pod.name, "ready" if ready else "not ready")

    def _probe(self, pod: ReplicaPod) -> tuple[bool, bool]:
        return probes.probe(pod, self.probing.timeout_s, self.probe_body)
