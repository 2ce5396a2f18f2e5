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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience.errors import ResilienceError
from resilience.faults.ledger import Ledger, LedgerEntry
from resilience.targets import Target, burner, faultproxy, netfilter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recovered:
    entry: LedgerEntry
    done: list[str]
    error: str | None = None


def _signal_group(platform: Target | None, step: dict[str, Any]) -> str:
    try:
        os.killpg(int(step["pgid"]), signal.Signals[step["signal"]])
    except ProcessLookupError:
        return f"process group {step['pgid']} is gone"
    return f"sent {step['signal']} to process group {step['pgid']}"


def _stop_proxy(platform: Target | None, step: dict[str, Any]) -> str:
    stopped = faultproxy.stop_proxy_pid(int(step["pid"]), None)
    return f"fault proxy pid {step['pid']} " + ("stopped" if stopped else "was not running")


def _stop_burner(platform: Target | None, step: dict[str, Any]) -> str:
    pid = step.get("pid")
    if pid is None and step.get("state_file"):  # killed before the pid was written down: the state file has it
        with contextlib.suppress(OSError, ValueError):
            pid = json.loads(Path(step["state_file"]).read_text())["pid"]
    if pid is None:
        return "burner: it never started"
    stopped = burner.stop_burner_pid(int(pid))
    return f"burner pid {pid} " + ("stopped" if stopped else "was not running")


def _restore_route(platform: Target | None, step: dict[str, Any]) -> str:
    if platform is None:
        return f"gateway route of {step['pod']}: the platform is down, nothing to restore"
    platform.route_pod(step["pod"], None)
    return f"gateway routes {step['pod']} directly again"


def _delete_table(platform: Target | None, step: dict[str, Any]) -> str:
    existed = netfilter.delete_table(step["table"])
    return f"nftables table {step['table']} " + ("deleted" if existed else "was not there")


def _delete_qdisc(platform: Target | None, step: dict[str, Any]) -> str:
    existed = netfilter.delete_qdisc(step["dev"], step.get("netns"))
    return f"qdisc on {step['dev']} " + ("deleted" if existed else "was not there")


def _abort_rollout(platform: Target | None, step: dict[str, Any]) -> str:
    if platform is None:
        return "rollout: the platform is down"
    state = platform.rollout()
    if state.get("state") in ("none", "rolled-back", "aborted", "promoted"):
        return f"rollout already {state.get('state')}"
    platform.rollout("abort")
    return "rollout aborted"


def _camera_control(platform: Target | None, step: dict[str, Any]) -> str:
    if platform is None:
        return "cameras: the platform is down"
    platform.camera_control(step["settings"])
    return f"cameras set back to {step['settings']}"


UNDO: dict[str, Callable[[Target | None, dict[str, Any]], str]] = {
    "signal-group": _signal_group,
    "stop-proxy": _stop_proxy,
    "stop-burner": _stop_burner,
    "restore-route": _restore_route,
    "delete-table": _delete_table,
    "delete-qdisc": _delete_qdisc,
    "abort-rollout": _abort_rollout,
    "camera-control": _camera_control,
}


def undo(entry: LedgerEntry, platform: Target | None) -> Recovered:
    """Run every undo step of `entry` (all of them, even after one fails)."""
    done, errors = [], []
    for step in entry.undo:
        op = UNDO.get(step.get("op", ""))
        if op is None:
            errors.append(f"unknown undo step {step}")
            continue
        try:
            done.append(op(platform, step))
        except (ResilienceError, OSError, KeyError, ValueError) as exc:
            errors.append(f"{step['op']}: {exc}")
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
