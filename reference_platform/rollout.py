"""Canary rollouts with automatic rollback, driven by what the gateway sees of each replica.

`start` brings up one canary pod per region serving the new model version, waits for it to be ready,
and gives it `weight` percent of its region's traffic (HAProxy server weights). Every second the
controller compares the canary with the stable replicas of its region from HAProxy's counters: failure
ratio and latency, judged against the `CanaryPolicy` by `reference_platform.rollout_analysis` (pure
functions; this module drives the pods, the gateway and the rollout's state).

Rolling back sets the canary's weight to 0, takes it out of the gateway and stops it. Promoting
restarts the stable pods one at a time on the new version (a rolling update), then retires the canary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from reference_platform.contracts import RolloutState as State
from reference_platform.gateway import STABLE_WEIGHT
from reference_platform.rollout_analysis import (
    FAILURE_FIELDS,
    CanaryPolicy,
    Observation,
    canary_verdict,
    counters,
    failures_since,
    green_verdict,
    observe_canary,
    shadow_summary,
)

if TYPE_CHECKING:
    from reference_platform.fleet import Fleet
    from reference_platform.gateway import RuntimeAPI
    from reference_platform.pods import ReplicaPod

__all__ = [
    "FAILURE_FIELDS",
    "BlueGreenController",
    "CanaryController",
    "CanaryPolicy",
    "RolloutController",
    "RolloutState",
    "ShadowController",
    "canary_weight",
]

log = logging.getLogger("reference_platform.rollout")


@dataclass
class RolloutState:
    strategy: str
    policy: CanaryPolicy
    state: State = State.STARTING
    """canary: starting -> progressing -> rolled-back | promoting -> promoted | aborted.
    blue-green: starting -> switched -> rolled-back | promoted | aborted."""
    reason: str = ""
    started_at: float = field(default_factory=time.time)
    decided_at: float | None = None
    canary: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per canary pod: requests, failures, failure_ratio, rtime_ms, stable_rtime_ms."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def canary_weight(percent: int, stable_servers: int) -> int:
    """HAProxy weight giving the canary `percent` of traffic next to `stable_servers` at STABLE_WEIGHT."""
    return max(1, min(256, round(percent / (100 - percent) * stable_servers * STABLE_WEIGHT)))


class RolloutController(Protocol):
    """A running deployment (canary, blue-green or shadow), as the supervisor and its control API drive it."""

    rollout: RolloutState
    stop: threading.Event

    def start(self) -> None: ...

    def promote(self) -> None: ...

    def abort(self) -> None: ...


class CanaryController:
    """A canary per region in `slots`, weighted in the gateway, judged every second, rolled back when bad."""

    def __init__(self, fleet: Fleet, gateway: RuntimeAPI, policy: CanaryPolicy, slots: Sequence[ReplicaPod]) -> None:
        self.fleet, self.gateway, self.slots = fleet, gateway, slots
        self.policy = policy
        self.rollout = RolloutState("canary", policy)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="canary", daemon=True)
        self._baseline: dict[str, dict[str, int]] = {}

    @property
    def canaries(self) -> list[ReplicaPod]:
        return [p for p in self.fleet.pods if p.variant == "canary" and not p.retired]

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            for pod in self.slots:
                pod.model_version, pod.retired = self.policy.version, False
                self.fleet.add_pod(pod)
            deadline = time.time() + self.policy.ready_timeout_s
            while not all(p.ready for p in self.canaries):
                if self.stop.wait(0.1):
                    return
                if time.time() > deadline:
                    self._roll_back(f"canary not ready within {self.policy.ready_timeout_s:.0f} s")
                    return
            stats = self.gateway.server_stats()
            self._baseline = {p.name: counters(stats.get(p.name, {})) for p in self.canaries}
            for pod in self.canaries:
                stable = sum(1 for p in self.fleet.pods if p.region == pod.region and p.variant == "stable")
                self.gateway.set_weight(pod.region, pod.name, canary_weight(self.policy.weight, stable))
            self.rollout.state = State.PROGRESSING
            log.info("canary v%d progressing at %d%%", self.policy.version, self.policy.weight)
            while not self.stop.wait(1.0):
                verdict = self._analyse()
                if verdict:
                    self._roll_back(verdict)
                    return
        except Exception as exc:
            log.exception("canary controller failed")
            self._roll_back(f"controller error: {exc}")

    def _analyse(self) -> str | None:
        stats = self.gateway.server_stats()
        for pod in self.canaries:
            stable = [p.name for p in self.fleet.pods if p.region == pod.region and p.variant == "stable"]
            seen = observe_canary(stats, pod.name, self._baseline.get(pod.name, {}), stable)
            self.rollout.canary[pod.name] = seen.to_json()
            verdict = canary_verdict(pod.name, pod.ready, seen, self.policy)
            if verdict:
                return verdict
        return None

    def _retire_canaries(self) -> None:
        for pod in self.canaries:
            try:
                self.gateway.set_weight(pod.region, pod.name, 0)
                self.gateway.set_server_state(pod.name, "maint")
            except OSError as exc:
                log.warning("gateway runtime API: %s", exc)
            self.fleet.remove_pod(pod)

    def _roll_back(self, reason: str) -> None:
        log.warning("rolling back canary v%d: %s", self.policy.version, reason)
        self._retire_canaries()
        self.rollout.state, self.rollout.reason, self.rollout.decided_at = State.ROLLED_BACK, reason, time.time()

    def abort(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        if self.rollout.state in (State.STARTING, State.PROGRESSING):
            self._retire_canaries()
            self.rollout.state, self.rollout.reason, self.rollout.decided_at = State.ABORTED, "by request", time.time()

    def promote(self) -> None:
        """Roll every stable pod to the canary's version, one at a time, then retire the canary."""
        if self.rollout.state != State.PROGRESSING:
            raise ValueError(f"cannot promote a rollout that is {self.rollout.state}")
        self.stop.set()
        self.thread.join(timeout=10)
        self.rollout.state = State.PROMOTING
        for pod in [p for p in self.fleet.pods if p.variant == "stable"]:
            self.fleet.restart_pod(pod, self.policy.version, reason=f"rollout to v{self.policy.version}")
        self._retire_canaries()
        self.rollout.state, self.rollout.reason, self.rollout.decided_at = State.PROMOTED, "", time.time()


class BlueGreenController:
    """Blue-green: bring up a full green set on the new version out of rotation, then switch all traffic.

    Green pods start in the idle slot set and stay out of the gateway until every one is ready; then
    one switch puts green in and drains blue. Blue keeps running (idle) so that rolling back is a switch,
    not a restart. For `analysis_s` after the switch green is watched like a canary (failure ratio,
    latency against blue's): a bad green switches back automatically. `promote` retires blue; `abort`
    switches back and retires green. Green comes from `slots`: the stable slots the gateway knows, of
    which those not running at `start` are idle.
    """

    def __init__(
        self,
        fleet: Fleet,
        gateway: RuntimeAPI,
        policy: CanaryPolicy,
        slots: Sequence[ReplicaPod],
        analysis_s: float = 20.0,
    ) -> None:
        self.fleet, self.gateway, self.slots = fleet, gateway, slots
        self.policy, self.analysis_s = policy, analysis_s
        self.rollout = RolloutState("blue-green", policy)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="blue-green", daemon=True)
        self.blue: list[ReplicaPod] = []
        self.green: list[ReplicaPod] = []

    def start(self) -> None:
        self.blue = [p for p in self.fleet.pods if p.role == "inference" and p.variant == "stable"]
        idle = [p for p in self.slots if p.role == "inference" and p.variant == "stable" and p not in self.fleet.pods]
        self.green = []
        for b in self.blue:  # one idle slot of the same region for every blue pod
            self.green.append(next(s for s in idle if s.region == b.region and s not in self.green))
        self.thread.start()

    def _state(self, state: State, reason: str = "") -> None:
        self.rollout.state, self.rollout.reason = state, reason
        if state not in (State.STARTING, State.SWITCHED):
            self.rollout.decided_at = time.time()

    def _run(self) -> None:
        try:
            for pod in self.green:
                pod.model_version, pod.in_rotation = self.policy.version, False
                self.fleet.add_pod(pod)
            deadline = time.time() + self.policy.ready_timeout_s
            while not all(p.ready for p in self.green):
                if self.stop.wait(0.1):
                    return
                if time.time() > deadline:
                    self._retire(self.green)
                    self._state(State.ROLLED_BACK, f"green not ready within {self.policy.ready_timeout_s:.0f} s")
                    return
            before = self.gateway.server_stats()
            blue_rtime = [float(before[p.name].get("rtime") or 0) for p in self.blue if p.name in before]
            self._switch(to=self.green, away=self.blue)
            self._state(State.SWITCHED)
            log.info("blue-green: switched to v%d", self.policy.version)
            base = {p.name: counters(before.get(p.name, {})) for p in self.green}
            ends = time.time() + self.analysis_s
            while time.time() < ends and not self.stop.wait(1.0):
                reason = self._judge(base, sum(blue_rtime) / len(blue_rtime) if blue_rtime else 0.0)
                if reason:
                    self._switch(to=self.blue, away=self.green)
                    self._retire(self.green)
                    self._state(State.ROLLED_BACK, reason)
                    return
        except Exception as exc:
            log.exception("blue-green controller failed")
            self._switch(to=self.blue, away=self.green)
            self._retire(self.green)
            self._state(State.ROLLED_BACK, f"controller error: {exc}")

    def _judge(self, base: dict[str, dict[str, int]], blue_rtime: float) -> str | None:
        stats = self.gateway.server_stats()
        requests = failures = 0
        rtimes = []
        for pod in self.green:
            now = counters(stats.get(pod.name, {}))
            requests += now["stot"] - base[pod.name]["stot"]
            failures += failures_since(now, base[pod.name])
            rtimes.append(float(stats.get(pod.name, {}).get("rtime") or 0))
            if not pod.ready:
                return f"green {pod.name} is not ready"
        seen = Observation(requests, failures, sum(rtimes) / len(rtimes) if rtimes else 0.0, blue_rtime)
        self.rollout.canary = {"green": seen.to_json()}
        return green_verdict(seen, self.policy)

    def _switch(self, to: list[ReplicaPod], away: list[ReplicaPod]) -> None:
        for pod in to:
            pod.in_rotation = True
            if pod.ready:
                self.gateway.set_server_state(pod.name, "ready")
        for pod in away:
            pod.in_rotation = False
            self.gateway.set_server_state(pod.name, "drain")
        time.sleep(1.0)  # in-flight requests finish on the drained side
        for pod in away:
            self.gateway.set_server_state(pod.name, "maint")

    def _retire(self, pods: list[ReplicaPod]) -> None:
        for pod in pods:
            if pod in self.fleet.pods:
                self.fleet.remove_pod(pod)
            pod.in_rotation = True

    def promote(self) -> None:
        if self.rollout.state != State.SWITCHED:
            raise ValueError(f"cannot promote a rollout that is {self.rollout.state}")
        self.stop.set()
        self.thread.join(timeout=10)
        self._retire(self.blue)
        self._state(State.PROMOTED)

    def abort(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        if self.rollout.state in (State.STARTING, State.SWITCHED):
            if self.rollout.state == State.SWITCHED:
                self._switch(to=self.blue, away=self.green)
            self._retire(self.green)
            self._state(State.ABORTED, "by request")


class ShadowController:
    """Shadow: run the new version beside production, mirror real frames to it, compare, never answer.

    The shadow pod is outside the gateway: no user request can reach it. The pipeline's preprocessing
    stage sends it a copy of every frame it has already had answered (dropped, not queued, when the
    shadow falls behind) and records agreement and differences; see `rollout.canary["shadow"]`.
    `promote` rolls production to the version (a drained rolling update); `abort` stops mirroring.
    `pod` is the shadow's slot; `preprocess_url` the pipeline's preprocessing stage, which mirrors.
    """

    def __init__(self, fleet: Fleet, policy: CanaryPolicy, pod: ReplicaPod, preprocess_url: str) -> None:
        self.fleet, self.policy, self.preprocess_url = fleet, policy, preprocess_url
        self.rollout = RolloutState("shadow", policy)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self.pod = pod

    def start(self) -> None:
        self.thread.start()

    def _mirror(self, target: str | None) -> None:
        import httpx

        httpx.post(self.preprocess_url + "/control", json={"shadow": target}, timeout=5).raise_for_status()

    def _run(self) -> None:
        try:
            self.pod.model_version = self.policy.version
            self.fleet.add_pod(self.pod)
            deadline = time.time() + self.policy.ready_timeout_s
            while not self.pod.ready:
                if self.stop.wait(0.1):
                    return
                if time.time() > deadline:
                    self.fleet.remove_pod(self.pod)
                    self.rollout.state, self.rollout.reason = State.ROLLED_BACK, "shadow not ready in time"
                    self.rollout.decided_at = time.time()
                    return
            self._mirror(f"{self.pod.host}:{self.pod.http_port}")
            self.rollout.state = State.PROGRESSING
            while not self.stop.wait(1.0):
                self.rollout.canary = {"shadow": self._observed()}
        except Exception as exc:
            log.exception("shadow controller failed")
            self._end(State.ROLLED_BACK, f"controller error: {exc}")

    def _observed(self) -> dict[str, float]:
        import httpx

        return shadow_summary(httpx.get(self.preprocess_url + "/metrics", timeout=5).text)

    def _end(self, state: State, reason: str = "") -> None:
        try:
            self._mirror(None)
        except Exception as exc:  # noqa: BLE001 - stopping the mirror is best effort; the pod goes anyway
            log.warning("could not stop mirroring: %s", exc)
        if self.pod in self.fleet.pods:
            self.fleet.remove_pod(self.pod)
        self.rollout.state, self.rollout.reason, self.rollout.decided_at = state, reason, time.time()

    def promote(self) -> None:
        if self.rollout.state != State.PROGRESSING:
            raise ValueError(f"cannot promote a rollout that is {self.rollout.state}")
        self.stop.set()
        self.thread.join(timeout=10)
        self.rollout.canary = {"shadow": self._observed()}
        self._end(State.PROMOTING)
        for pod in [p for p in self.fleet.pods if p.role == "inference" and p.variant == "stable"]:
            self.fleet.restart_pod(pod, self.policy.version, reason=f"rollout to v{self.policy.version}")
        self.rollout.state = State.PROMOTED

    def abort(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        if self.rollout.state in (State.STARTING, State.PROGRESSING):
            self.rollout.canary = {"shadow": self._observed()}
            self._end(State.ABORTED, "by request")
