"""Chaos Toolkit actions: faults against the platform, each verified as landed."""

from __future__ import annotations

import logging

from chaoslib.exceptions import ActivityFailed

from resilience.engine import session
from resilience.errors import ResilienceError
from resilience.faults import PodKill, wait_all_ready
from resilience.model import FaultRecord

__all__ = ["ensure_pods_ready", "kill_pods"]

# A child of chaoslib's logger, so that `chaos run` shows these lines too (it only configures "chaostoolkit").
log = logging.getLogger("chaostoolkit.resilience")


def kill_pods(
    role: str = "inference",
    count: int = 1,
    signal: str = "SIGKILL",
    region: str | None = None,
    max_fraction: float = 0.5,
    recovery_timeout_s: float = 60.0,
) -> list[dict[str, object]]:
    """Kill `count` running pods of `role` (optionally only in `region`) with `signal`.

    The whole pod (its process group: PyTriton, tritonserver, backend stub) gets the signal. The
    action waits for evidence that it landed (the supervisor reaped that pid and saw the signal) and
    for the replacement to become ready, and fails if the selector matched nothing, if the kill would
    exceed `max_fraction` of the role's pods, or if there is no evidence.
    """
    run = session.current()
    fault = PodKill(
        role=role,
        region=region,
        count=count,
        signal_name=signal,
        max_fraction=max_fraction,
        recovery_timeout_s=recovery_timeout_s,
    )
    try:
        records = fault.inject(run.platform(), run.faults)
    except ResilienceError as exc:
        raise ActivityFailed(str(exc)) from exc
    not_landed = [r for r in records if not r.landed]
    if not_landed:
        raise ActivityFailed("; ".join(f"{r.target}: {r.error}" for r in not_landed))
    return [_record_json(r) for r in records]


def ensure_pods_ready(role: str | None = "inference", timeout_s: float = 60.0) -> list[str]:
    """Wait until every pod of `role` runs and is ready again (idempotent rollback for pod faults)."""
    try:
        pods = wait_all_ready(session.current().platform(), role, timeout_s)
    except ResilienceError as exc:
        raise ActivityFailed(str(exc)) from exc
    return [f"{p.name} pid {p.pid}" for p in pods]


def _record_json(r: FaultRecord) -> dict[str, object]:
    return {
        "kind": r.kind.value,
        "target": r.target,
        "injected_at": r.injected_at,
        "landed": r.landed,
        "recovered_at": r.recovered_at,
        "evidence": dict(r.evidence),
    }
