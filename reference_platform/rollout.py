"""Canary rollouts with automatic rollback, driven by what the gateway sees of each replica.

`start` brings up one canary pod per region serving the new model version, waits for it to be ready,
and gives it `weight` percent of its region's traffic (HAProxy server weights). Every second the
controller compares the canary with the stable replicas of its region from HAProxy's counters:

- failure ratio: (5xx + response errors + connection errors + retries/redispatches away from it) /
  requests sent to it; above `max_error_ratio` -> roll back;
- latency: HAProxy's average response time of the last 1,024 requests; above `max_latency_ratio` x
  the stable replicas' (and above 5 ms) -> roll back.

Rolling back sets the canary's weight to 0, takes it out of the gateway and stops it. Promoting
restarts the stable pods one at a time on the new version (a rolling update), then retires the canary.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from reference_platform import gateway

if TYPE_CHECKING:
    from reference_platform.pods import ReplicaPod
    from reference_platform.supervisor import Supervisor

log = logging.getLogger("reference_platform.rollout")

FAILURE_FIELDS = ("hrsp_5xx", "eresp", "econ", "wretr", "wredis")


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


@dataclass
class RolloutState:
    strategy: str
    policy: CanaryPolicy
    state: str = "starting"
    """starting -> progressing -> rolled-back | promoting -> promoted | aborted."""
    reason: str = ""
    started_at: float = field(default_factory=time.time)
    decided_at: float | None = None
    canary: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per canary pod: requests, failures, failure_ratio, rtime_ms, stable_rtime_ms."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def canary_weight(percent: int, stable_servers: int) -> int:
    """HAProxy weight giving the canary `percent` of traffic next to `stable_servers` at STABLE_WEIGHT."""
    return max(1, min(256, round(percent / (100 - percent) * stable_servers * gateway.STABLE_WEIGHT)))


class CanaryController:
    def __init__(self, sup: Supervisor, policy: CanaryPolicy) -> None:
        self.sup = sup
        self.policy = policy
        self.rollout = RolloutState("canary", policy)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="canary", daemon=True)
        self._baseline: dict[str, dict[str, int]] = {}

    @property
    def canaries(self) -> list[ReplicaPod]:
        return [p for p in self.sup.pods if p.variant == "canary" and not p.retired]

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            for pod in self.sup.canary_slots:
                pod.model_version, pod.retired = self.policy.version, False
                self.sup.add_pod(pod)
            deadline = time.time() + self.policy.ready_timeout_s
            while not all(p.ready for p in self.canaries):
                if self.stop.wait(0.1):
                    return
                if time.time() > deadline:
                    self._roll_back(f"canary not ready within {self.policy.ready_timeout_s:.0f} s")
                    return
            stats = gateway.server_stats(self.sup.socket_path)
            self._baseline = {p.name: self._counters(stats.get(p.name, {})) for p in self.canaries}
            for pod in self.canaries:
                stable = sum(1 for p in self.sup.pods if p.region == pod.region and p.variant == "stable")
                gateway.set_weight(
                    self.sup.socket_path, pod.region, pod.name, canary_weight(self.policy.weight, stable)
                )
            self.rollout.state = "progressing"
            log.info("canary v%d progressing at %d%%", self.policy.version, self.policy.weight)
            while not self.stop.wait(1.0):
                verdict = self._analyse()
                if verdict:
                    self._roll_back(verdict)
                    return
        except Exception as exc:
            log.exception("canary controller failed")
            self._roll_back(f"controller error: {exc}")

    @staticmethod
    def _counters(row: dict[str, str]) -> dict[str, int]:
        return {k: int(row.get(k) or 0) for k in ("stot", *FAILURE_FIELDS)}

    def _analyse(self) -> str | None:
        stats = gateway.server_stats(self.sup.socket_path)
        for pod in self.canaries:
            now, base = self._counters(stats.get(pod.name, {})), self._baseline.get(pod.name, {})
            requests = now["stot"] - base.get("stot", 0)
            failures = sum(now[k] - base.get(k, 0) for k in FAILURE_FIELDS)
            stable_rt = [
                int(stats[p.name].get("rtime") or 0)
                for p in self.sup.pods
                if p.region == pod.region and p.variant == "stable" and p.name in stats
            ]
            stable_rtime = sum(stable_rt) / len(stable_rt) if stable_rt else 0.0
            rtime = float(stats.get(pod.name, {}).get("rtime") or 0)
            ratio = failures / requests if requests else 0.0
            self.rollout.canary[pod.name] = {
                "requests": requests,
                "failures": failures,
                "failure_ratio": ratio,
                "rtime_ms": rtime,
                "stable_rtime_ms": stable_rtime,
            }
            if not pod.ready:
                return f"canary {pod.name} is not ready"
            if requests < self.policy.min_requests:
                continue
            if ratio > self.policy.max_error_ratio:
                return (
                    f"canary {pod.name} failure ratio {ratio:.3f} > {self.policy.max_error_ratio:.3f} "
                    f"({failures} of {requests} requests)"
                )
            if rtime > 5 and stable_rtime and rtime > self.policy.max_latency_ratio * stable_rtime:
                return (
                    f"canary {pod.name} latency {rtime:.0f} ms > {self.policy.max_latency_ratio:g} x stable "
                    f"{stable_rtime:.1f} ms"
                )
        return None

    def _retire_canaries(self) -> None:
        for pod in self.canaries:
            try:
                gateway.set_weight(self.sup.socket_path, pod.region, pod.name, 0)
                gateway.set_server_state(self.sup.socket_path, pod.name, "maint", self.sup.config.regions)
            except OSError as exc:
                log.warning("gateway runtime API: %s", exc)
            self.sup.remove_pod(pod)

    def _roll_back(self, reason: str) -> None:
        log.warning("rolling back canary v%d: %s", self.policy.version, reason)
        self._retire_canaries()
        self.rollout.state, self.rollout.reason, self.rollout.decided_at = "rolled-back", reason, time.time()

    def abort(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        if self.rollout.state in ("starting", "progressing"):
            self._retire_canaries()
            self.rollout.state, self.rollout.reason, self.rollout.decided_at = "aborted", "by request", time.time()

    def promote(self) -> None:
        """Roll every stable pod to the canary's version, one at a time, then retire the canary."""
        if self.rollout.state != "progressing":
            raise ValueError(f"cannot promote a rollout that is {self.rollout.state}")
        self.stop.set()
        self.thread.join(timeout=10)
        self.rollout.state = "promoting"
        for pod in [p for p in self.sup.pods if p.variant == "stable"]:
            self.sup.restart_pod(pod, self.policy.version, reason=f"rollout to v{self.policy.version}")
        self._retire_canaries()
        self.rollout.state, self.rollout.reason, self.rollout.decided_at = "promoted", "", time.time()
