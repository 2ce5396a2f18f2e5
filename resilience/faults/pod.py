"""Pod faults: kill, hang and crash-loop pods with real signals, and prove what landed and what followed.

Evidence comes from the kernel and the pod's parent: the supervisor reaped that exact pid and saw the
signal (kill), every process of the group is in state `T` (hang), the supervisor counted the restarts
(crash loop). Recovery is a replacement process that became ready again.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import signal
import time
from dataclasses import dataclass, field, replace

from resilience.errors import FaultError, UsageError
from resilience.faults import args
from resilience.faults.base import FaultContext
from resilience.faults.ledger import SignalGroup
from resilience.faults.select import Selector
from resilience.model import FaultKind, FaultRecord
from resilience.targets import Pod, PodExit, Target

log = logging.getLogger(__name__)

SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}


@dataclass(frozen=True, slots=True)
class PodKill:
    """Kill the selected pods with `signal_name` (SIGTERM escalates to SIGKILL after `grace_s`)."""

    selector: Selector = field(default_factory=Selector)
    signal_name: str = "SIGKILL"
    grace_s: float = 5.0
    """SIGTERM only: how long the pod may take to exit before its group gets SIGKILL (Kubernetes' grace period)."""
    evidence_timeout_s: float = 10.0
    recovery_timeout_s: float = 60.0
    kind: FaultKind = FaultKind.POD_KILL

    def __post_init__(self) -> None:
        if self.signal_name not in SIGNALS:
            raise UsageError(f"signal: {self.signal_name!r} is not supported; use one of {sorted(SIGNALS)}")
        args.non_negative("grace_s", self.grace_s)
        args.positive("recovery_timeout_s", self.recovery_timeout_s)

    def plan(self, platform: Target) -> list[str]:
        return [f"{self.signal_name} {p.label} {p.identity}" for p in self.selector.pick(platform)]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        """Kill the pods, wait for evidence and recovery, and return one record per pod."""
        victims = self.selector.pick(ctx.platform)
        sig = SIGNALS[self.signal_name]
        sent = []
        for pod in victims:
            at = ctx.platform.signal_pod(pod, sig)
            evidence = {"killed_pid": pod.pid, "signal_sent": self.signal_name}
            slot = ctx.pending(FaultRecord(self.kind, pod.label, at, False, evidence, error="not verified yet"))
            sent.append((pod, at, slot))
        escalated = {
            pod.name: self._escalate(ctx.platform, pod, at) if sig == signal.SIGTERM else None for pod, at, _ in sent
        }
        return [ctx.settle(slot, self._verify(ctx.platform, pod, at, escalated[pod.name])) for pod, at, slot in sent]

    def _escalate(self, platform: Target, pod: Pod, sent_at: float) -> float | None:
        """After the grace period, SIGKILL what is left of the group (what the kubelet does); return when, if it did."""
        if pod.pid is None:
            return None  # no process view (a cluster): the kubelet itself escalates after the pod's grace period
        deadline = time.monotonic() + self.grace_s - (time.time() - sent_at)
        while platform.group_states(pod.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if platform.group_states(pod.pid):
            log.info("%s outlived its %.1f s grace period: SIGKILL", pod.label, self.grace_s)
            return platform.signal_pod(pod, signal.SIGKILL, missing_ok=True)
        return None

    def _verify(self, platform: Target, pod: Pod, at: float, escalated_at: float | None) -> FaultRecord:
        evidence: dict[str, object] = {"killed": pod.identity, "signal_sent": self.signal_name}
        if pod.pid is not None:
            evidence["killed_pid"] = pod.pid
        exit_ = platform.exit_of(pod, self.evidence_timeout_s)
        if exit_ is None:
            error = f"the platform never reported {pod.identity} ending within {self.evidence_timeout_s:.0f} s"
            return FaultRecord(self.kind, pod.label, at, False, evidence, error=error)
        landed, ended_by = judge_exit(exit_, self.signal_name, at, self.grace_s, escalated_at, pod.ready)
        evidence |= {
            "exit_seen_by_parent": dataclasses.asdict(exit_),
            "detected_after_s": round(exit_.at - at, 3),
            "ended_by": ended_by,
        }
        if escalated_at is not None:
            evidence["escalated_to_sigkill_after_s"] = round(escalated_at - at, 3)
        back = platform.replacement_of(pod, self.recovery_timeout_s)
        evidence |= recovery_evidence(back, at)
        log.info(
            "pod-kill %s: %s ended (%s); replacement %s", pod.name, pod.identity, exit_.signal, back and back.identity
        )
        problem = None if landed else f"{pod.identity} did not end because of our {self.signal_name}: {ended_by}"
        return FaultRecord(self.kind, pod.label, at, landed, evidence, back.ready_at if back else None, problem)


EXIT_SEEN_SLACK_S = 1.0
"""How late the supervisor may report an exit inside the grace period: it polls its child every 0.05 s,
but on a busy box its thread runs late, and an exit at the very end of the grace period races our SIGKILL."""


def judge_exit(
    exit_: PodExit,
    signal_name: str,
    sent_at: float,
    grace_s: float,
    escalated_at: float | None,
    was_ready: bool = True,
) -> tuple[bool, str]:
    """Whether the pod ended because of our signal, and how (or why not), from the exit its parent saw.

    `exit_` is the supervisor's record; an exit it only observed
    has a reason starting `exited:`, one it caused itself (a liveness restart, a rollout) names that.
    Landed: killed by the signal we sent; for SIGTERM also a graceful exit (a code) within the grace
    period, our SIGKILL after it, or a liveness restart inside the grace period of a pod that was ready
    when we signalled it (a replica shutting down in answer to SIGTERM stops serving the inference its
    liveness probe is: the supervisor then cuts the shutdown short, as a kubelet's probes may). An exit
    before our signal, or by anyone else's hand, is not.
    """
    at, sig, reason = exit_.at, exit_.signal, exit_.reason
    after_s = at - sent_at
    if at < sent_at:
        return False, f"it ended before our {signal_name} ({reason}, {-after_s:.3f} s earlier)"
    if (
        signal_name == "SIGTERM"
        and reason.startswith("liveness")
        and was_ready
        and after_s <= grace_s + EXIT_SEEN_SLACK_S
        and (escalated_at is None or at < escalated_at)
    ):
        return True, (
            f"restarted by the supervisor ({reason}) {after_s:.2f} s after our SIGTERM, inside its {grace_s:g} s "
            "grace period: the replica was ready when signalled and stopped answering as it shut down"
        )
    if not reason.startswith("exited:"):
        why = "" if was_ready or not reason.startswith("liveness") else "; it was not ready when we signalled it"
        return False, f"the supervisor ended it itself ({reason}), not our {signal_name}{why}"
    if sig == signal_name:
        return True, f"killed by our {signal_name}"
    if signal_name == "SIGTERM" and sig is None:
        if after_s <= grace_s + EXIT_SEEN_SLACK_S:
            return True, (
                f"exited with code {exit_.returncode} {after_s:.2f} s after our SIGTERM, within its "
                f"{grace_s:g} s grace period (graceful shutdown)"
            )
        return (
            False,
            f"exited with code {exit_.returncode} {after_s:.2f} s after our SIGTERM, past its grace",
        )
    if signal_name == "SIGTERM" and sig == "SIGKILL" and escalated_at is not None and at >= escalated_at:
        return True, f"killed by our SIGKILL after the {grace_s:g} s grace period (escalated)"
    if sig is None:
        return False, f"exited with code {exit_.returncode}, not killed by our {signal_name}"
    return False, f"killed by {sig}, which we did not send ({reason})"


@dataclass(frozen=True, slots=True)
class PodHang:
    """Freeze the selected pods (SIGSTOP to the whole group) for `duration_s`, then SIGCONT them.

    A frozen replica keeps its sockets open: the gateway's connections to it hang instead of being
    refused, which is what a wedged GPU driver or a stop-the-world pause looks like from outside.
    """

    selector: Selector = field(default_factory=Selector)
    duration_s: float = 10.0
    recovery_timeout_s: float = 60.0
    kind: FaultKind = FaultKind.POD_HANG

    def __post_init__(self) -> None:
        args.positive("duration_s", self.duration_s)

    def plan(self, platform: Target) -> list[str]:
        return [f"SIGSTOP {p.label} pid {p.pid} for {self.duration_s:g} s" for p in self.selector.pick(platform)]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        pods = self.selector.pick(ctx.platform)
        entries, slots = [], []
        try:
            for pod in pods:
                assert pod.pid is not None
                undo = [SignalGroup(pgid=pod.pid, signal="SIGCONT")]
                entries.append(ctx.book.record(self.kind, pod.label, undo))
                at = ctx.platform.signal_pod(pod, signal.SIGSTOP)
                evidence: dict[str, object] = {"stopped_pgid": pod.pid}
                slots.append((pod, at, ctx.pending(FaultRecord(self.kind, pod.label, at, False, evidence))))
            frozen = {pod.name: self._frozen(ctx.platform, pod) for pod, _, _ in slots}
            for pod, at, slot in slots:  # landed (or not) is known now: displays say so while it is on
                ctx.settle(slot, self._landed(pod, at, frozen[pod.name]))
            time.sleep(self.duration_s)
        finally:
            for pod, _, _ in slots:
                ctx.platform.signal_pod(pod, signal.SIGCONT, missing_ok=True)
            resumed_at = time.time()
            for entry in entries:
                ctx.book.clear(entry)
            for pod, at, slot in slots:  # interrupted or not, what was seen stays: the hang and how long it held
                if pod.name in frozen:
                    record = ctx.records[slot]
                    hung = {"hung_for_s": round(resumed_at - at, 3)}
                    ctx.settle(slot, replace(record, evidence={**record.evidence, **hung}, recovered_at=resumed_at))
        return [
            ctx.settle(slot, self._record(ctx.platform, pod, at, frozen[pod.name], resumed_at))
            for pod, at, slot in slots
        ]

    def _landed(self, pod: Pod, at: float, frozen: dict[int, str]) -> FaultRecord:
        landed = bool(frozen) and all(s == "T" for s in frozen.values())
        evidence: dict[str, object] = {
            "stopped_pgid": pod.pid,
            "process_states_after_sigstop": {str(k): v for k, v in frozen.items()},
        }
        error = None if landed else f"the group of pid {pod.pid} was not stopped: {frozen or 'no process found'}"
        return FaultRecord(self.kind, pod.label, at, landed, evidence, None, error)

    def _frozen(self, platform: Target, pod: Pod) -> dict[int, str]:
        """The group's process states shortly after SIGSTOP (all `T` when it landed)."""
        assert pod.pid is not None
        deadline = time.monotonic() + 2.0
        states = platform.group_states(pod.pid)
        while states and any(s != "T" for s in states.values()) and time.monotonic() < deadline:
            time.sleep(0.02)
            states = platform.group_states(pod.pid)
        return states

    def _record(self, platform: Target, pod: Pod, at: float, frozen: dict[int, str], resumed_at: float) -> FaultRecord:
        seen = self._landed(pod, at, frozen)
        back = wait_ready(platform, pod.name, self.recovery_timeout_s)
        # Liveness probes fail on a frozen replica: the supervisor may restart it, during the hang or just after
        # SIGCONT; asked once the pod is ready again, its last exit says whether that pid was ended by it.
        now = back or platform.pod(pod.name)
        restarted = now is not None and now.last_exit is not None and now.last_exit.pid == pod.pid
        evidence: dict[str, object] = {
            **seen.evidence,
            "hung_for_s": round(resumed_at - at, 3),
            "restarted_by_supervisor": restarted,
        }
        if restarted and now is not None and now.last_exit is not None:
            evidence["restart_reason"] = now.last_exit.reason
        ready_again = None if back is None else (back.ready_at if restarted else time.time())
        if ready_again is not None:
            evidence["ready_again_at"] = ready_again
        return replace(seen, evidence=evidence, recovered_at=ready_again)


@dataclass(frozen=True, slots=True)
class CrashLoop:
    """Kill the selected pod again each time it comes back, for `duration_s`: a crash loop from outside."""

    selector: Selector = field(default_factory=Selector)
    duration_s: float = 15.0
    recovery_timeout_s: float = 90.0
    kind: FaultKind = FaultKind.POD_CRASH_LOOP

    def __post_init__(self) -> None:
        args.positive("duration_s", self.duration_s)

    def plan(self, platform: Target) -> list[str]:
        return [f"SIGKILL {p.label} on every start for {self.duration_s:g} s" for p in self.selector.pick(platform)]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        pods = self.selector.pick(ctx.platform)
        started = time.time()
        slots = {p.name: ctx.pending(FaultRecord(self.kind, p.label, started, False, {})) for p in pods}
        before = {p.name: p.restarts for p in pods}
        killed: dict[str, list[int]] = {p.name: [] for p in pods}
        kill_times: dict[str, list[float]] = {p.name: [] for p in pods}
        crash_loop_seen: set[str] = set()
        deadline = time.monotonic() + self.duration_s
        while time.monotonic() < deadline:
            for pod in ctx.platform.select(role=self.selector.role, names=list(killed)):
                if pod.crash_loop:
                    crash_loop_seen.add(pod.name)
                if pod.pid is not None and pod.pid not in killed[pod.name]:
                    ctx.platform.signal_pod(pod, signal.SIGKILL, missing_ok=True)
                    killed[pod.name].append(pod.pid)
                    kill_times[pod.name].append(time.time())
            time.sleep(0.05)
        results = []
        for pod in pods:
            now = ctx.platform.pod(pod.name)
            if now is not None and now.crash_loop:
                crash_loop_seen.add(pod.name)
            restarts = (now.restarts if now else 0) - before[pod.name]
            back = wait_ready(ctx.platform, pod.name, self.recovery_timeout_s)
            evidence: dict[str, object] = {
                "killed_pids": killed[pod.name],
                # each gap is the supervisor's restart backoff plus the time to spawn: it should double
                "seconds_between_kills": [round(b - a, 2) for a, b in itertools.pairwise(kill_times[pod.name])],
                "restarts_seen_by_supervisor": restarts,
                "crash_loop_flagged": pod.name in crash_loop_seen,
            } | recovery_evidence(back, time.time())
            landed = len(killed[pod.name]) >= 2 and restarts >= 1
            error = (
                None
                if landed
                else f"only {len(killed[pod.name])} kill(s) and {restarts} restart(s) in {self.duration_s:g} s"
            )
            rec = FaultRecord(self.kind, pod.label, started, landed, evidence, back.ready_at if back else None, error)
            results.append(ctx.settle(slots[pod.name], rec))
        return results


def wait_ready(platform: Target, name: str, timeout_s: float) -> Pod | None:
    return platform.wait_for(name, lambda p: p.ready and p.running, timeout_s)


def recovery_evidence(back: Pod | None, at: float) -> dict[str, object]:
    if back is None:
        return {"recovered": False}
    identity = (
        {"replacement_pid": back.pid} if back.uid is None else {"replacement": back.name, "replacement_uid": back.uid}
    )
    return {
        "recovered": True,
        **identity,
        "time_to_ready_s": round(max(0.0, (back.ready_at or at) - at), 3),
        "restarts": back.restarts,
    }


def wait_all_ready(platform: Target, role: str | None, timeout_s: float) -> list[Pod]:
    """Rollback for pod faults: wait until every pod of `role` runs and is ready (idempotent)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pods = [p for p in platform.pods() if role is None or p.role == role]
        if pods and all(p.ready and p.running for p in pods):
            return pods
        if time.monotonic() > deadline:
            waiting = ", ".join(p.name for p in pods if not p.ready) or "none found"
            raise FaultError(f"pods not ready after {timeout_s:.0f} s: {waiting}")
        time.sleep(0.1)
