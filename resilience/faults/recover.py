"""Carry out a ledger entry's undo steps: how a fault is rolled back by whoever finds it.

Every step is idempotent and safe to run when the fault is already gone (the process exited, the
rule was deleted, the platform was taken down): recovery after `kill -9` of the toolkit must never
make things worse.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from resilience.errors import ResilienceError
from resilience.faults.ledger import (
    AbortRollout,
    CameraControl,
    DeleteQdisc,
    DeleteTable,
    Ledger,
    LedgerEntry,
    RestoreRoute,
    SignalGroup,
    StopBurner,
    StopProxy,
    UndoStep,
    UnknownStep,
)
from resilience.targets import ROLLOUT_ENDED, RolloutState, Target, burner, faultproxy, netfilter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recovered:
    entry: LedgerEntry
    done: list[str]
    error: str | None = None


def _undo_step(platform: Target | None, step: UndoStep) -> str:
    """Carry out one step; what was done (or found already undone)."""
    match step:
        case SignalGroup(pgid=pgid, signal=sig):
            try:
                os.killpg(pgid, signal.Signals[sig])
            except ProcessLookupError:
                return f"process group {pgid} is gone"
            return f"sent {sig} to process group {pgid}"
        case StopProxy(pid=pid):
            stopped = faultproxy.stop_proxy_pid(pid, None)
            return f"fault proxy pid {pid} " + ("stopped" if stopped else "was not running")
        case StopBurner(pid=pid, state_file=state_file):
            if pid is None and state_file:  # killed before the pid was written down: the state file has it
                with contextlib.suppress(OSError, ValueError, KeyError):
                    pid = int(json.loads(Path(state_file).read_text())["pid"])
            if pid is None:
                return "burner: it never started"
            return f"burner pid {pid} " + ("stopped" if burner.stop_burner_pid(pid) else "was not running")
        case RestoreRoute(pod=pod):
            if platform is None:
                return f"gateway route of {pod}: the platform is down, nothing to restore"
            platform.route_pod(pod, None)
            return f"gateway routes {pod} directly again"
        case DeleteTable(table=table):
            return f"nftables table {table} " + ("deleted" if netfilter.delete_table(table) else "was not there")
        case DeleteQdisc(dev=dev, netns=netns):
            return f"qdisc on {dev} " + ("deleted" if netfilter.delete_qdisc(dev, netns) else "was not there")
        case AbortRollout():
            if platform is None:
                return "rollout: the platform is down"
            state = platform.rollout()
            if state.get("state") in {RolloutState.NONE, *ROLLOUT_ENDED}:
                return f"rollout already {state.get('state')}"
            platform.rollout("abort")
            return "rollout aborted"
        case CameraControl(settings=settings):
            if platform is None:
                return "cameras: the platform is down"
            platform.camera_control(settings)
            return f"cameras set back to {settings}"


def undo(entry: LedgerEntry, platform: Target | None) -> Recovered:
    """Run every undo step of `entry` (all of them, even after one fails)."""
    done, errors = [], []
    for step in entry.undo:
        if isinstance(step, UnknownStep):
            errors.append(f"unknown undo step {step.raw} ({step.why})")
            continue
        try:
            done.append(_undo_step(platform, step))
        except (ResilienceError, OSError, ValueError) as exc:
            errors.append(f"{step.op}: {exc}")
    return Recovered(entry, done, "; ".join(errors) or None)


def recover(ledger: Ledger, platform: Target | None, run_pid: int | None = None) -> list[Recovered]:
    """Roll back every active fault in `ledger` (only `run_pid`'s, if given); clear those that succeeded."""
    results = []
    for entry in ledger.active(run_pid):
        result = undo(entry, platform)
        if result.error is None:
            ledger.clear(entry)
        log.info("recovered %s on %s: %s", entry.kind.value, entry.target, "; ".join(result.done) or result.error)
        results.append(result)
    return results
