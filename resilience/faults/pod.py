"""Pod faults: kill replicas with a real signal and prove it landed and what the platform did next."""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass

from resilience.errors import FaultError, NothingMatchedError, UsageError
from resilience.model import FaultKind, FaultRecord
from resilience.targets import LocalPlatform, Pod

log = logging.getLogger(__name__)

SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}


@dataclass(frozen=True, slots=True)
class PodKill:
    """Kill `count` running pods matching the selector with `signal_name`.

    Evidence that it landed: the supervisor (the pod's parent) reaped that exact pid and saw it die of
    that signal. Recovery: a replacement process for the same pod became ready again.
    """

    role: str = "inference"
    region: str | None = None
    count: int = 1
    signal_name: str = "SIGKILL"
    max_fraction: float = 0.5
    """Blast radius: at most this share of the matched role's pods may be killed at once."""
    evidence_timeout_s: float = 10.0
    recovery_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.signal_name not in SIGNALS:
            raise UsageError(f"signal: {self.signal_name!r} is not supported; use one of {sorted(SIGNALS)}")
        if self.count < 1:
            raise UsageError(f"count: must be at least 1 (got {self.count})")

    def inject(self, platform: LocalPlatform, records: list[FaultRecord]) -> list[FaultRecord]:
        """Kill the pods, wait for evidence and recovery, and return one record per pod.

        Each kill is entered in `records` the moment the signal is sent (as not yet verified) and
        replaced by its verified record afterwards, so an interrupted run still reports it.
        """
        candidates = platform.select(role=self.role, region=self.region)
        everyone = platform.select(role=self.role)
        if not candidates:
            raise NothingMatchedError(
                f"no running pod matches role={self.role!r} region={self.region!r}; "
                f"check `resilience platform status` for the pods there are"
            )
        if self.count > len(candidates):
            raise NothingMatchedError(f"count {self.count} but only {len(candidates)} running pod(s) match")
        if self.count > max(1, int(len(everyone) * self.max_fraction)):
            raise FaultError(
                f"killing {self.count} of {len(everyone)} {self.role} pods exceeds the blast radius "
                f"({self.max_fraction:.0%}); raise max_fraction explicitly to allow it"
            )
        victims = candidates[: self.count]
        sig = SIGNALS[self.signal_name]
        sent = []
        for pod in victims:
            at = platform.signal_pod(pod, sig)
            sent.append((pod, at, len(records)))
            records.append(
                FaultRecord(
                    FaultKind.POD_KILL,
                    pod.label,
                    at,
                    landed=False,
                    evidence={"killed_pid": pod.pid, "signal_sent": self.signal_name},
                    error="interrupted before the evidence was collected",
                )
            )
        for pod, at, slot in sent:
            records[slot] = self._verify(platform, pod, at)
        return [records[slot] for _, _, slot in sent]

    def _verify(self, platform: LocalPlatform, pod: Pod, at: float) -> FaultRecord:
        old_pid = pod.pid
        died = platform.wait_for(
            pod.name, lambda p: p.last_exit is not None and p.last_exit["pid"] == old_pid, self.evidence_timeout_s
        )
        if died is None or died.last_exit is None:
            return FaultRecord(
                FaultKind.POD_KILL,
                pod.label,
                at,
                landed=False,
                evidence={"killed_pid": old_pid, "signal_sent": self.signal_name},
                error=f"the supervisor never reported pid {old_pid} exiting within {self.evidence_timeout_s:.0f} s",
            )
        exit_ = died.last_exit
        landed = exit_["signal"] == self.signal_name or (self.signal_name == "SIGTERM" and exit_["returncode"] >= 0)
        evidence: dict[str, object] = {
            "killed_pid": old_pid,
            "signal_sent": self.signal_name,
            "exit_seen_by_parent": exit_,
            "detected_after_s": round(exit_["at"] - at, 3),
        }
        back = platform.wait_for(pod.name, lambda p: p.ready and p.pid not in (None, old_pid), self.recovery_timeout_s)
        if back is not None:
            evidence |= {
                "replacement_pid": back.pid,
                "replacement_ready_at": back.ready_at,
                "time_to_ready_s": round((back.ready_at or at) - at, 3),
                "restarts": back.restarts,
            }
        log.info(
            "pod-kill %s: pid %s died of %s; replacement %s",
            pod.name,
            old_pid,
            exit_["signal"],
            back.pid if back else "not ready",
        )
        return FaultRecord(
            FaultKind.POD_KILL,
            pod.label,
            at,
            landed=landed,
            evidence=evidence,
            recovered_at=back.ready_at if back else None,
            error=None if landed else f"pid {old_pid} ended with {exit_}, not {self.signal_name}",
        )


def wait_all_ready(platform: LocalPlatform, role: str | None, timeout_s: float) -> list[Pod]:
    """Rollback for pod faults: wait until every pod of `role` runs and is ready (idempotent)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pods = [p for p in platform.pods() if role is None or p.role == role]
        if pods and all(p.ready and p.pid for p in pods):
            return pods
        if time.monotonic() > deadline:
            waiting = ", ".join(p.name for p in pods if not p.ready) or "none found"
            raise FaultError(f"pods not ready after {timeout_s:.0f} s: {waiting}")
        time.sleep(0.1)
