"""Chaos Toolkit actions: faults against the platform, each verified as landed and rolled back.

Every action fails (and so does the run, with exit code 3) when its selector matches nothing, when it
would exceed its blast radius, or when there is no evidence the fault landed. Faults with a duration
undo themselves when it is over, on error and on Ctrl-C; `rollback_faults` in an experiment's rollbacks
undoes whatever is still in the fault ledger.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Mapping
from typing import ParamSpec

from chaoslib.exceptions import ActivityFailed

from resilience.engine import session
from resilience.errors import ResilienceError
from resilience.faults import (
    BadCanary,
    Bandwidth,
    CameraFault,
    ConnectionReset,
    CrashLoop,
    Fault,
    FaultContext,
    NetworkLatency,
    PacketLoss,
    PodHang,
    PodKill,
    RegionPartition,
    Saturation,
    Selector,
    recover,
    wait_all_ready,
)
from resilience.faults import args as check
from resilience.model import FaultRecord

__all__ = [
    "add_latency",
    "corrupt_frames",
    "crash_loop_pods",
    "drop_packets",
    "ensure_pods_ready",
    "hang_pods",
    "kill_pods",
    "limit_bandwidth",
    "partition_region",
    "reset_connections",
    "rollback_faults",
    "rollout_bad_canary",
    "saturate_gpu",
    "stall_cameras",
]

# A child of chaoslib's logger, so that `chaos run` shows these lines too (it only configures "chaostoolkit").
log = logging.getLogger("chaostoolkit.resilience")


Result = list[dict[str, object]] | list[str]
P = ParamSpec("P")


def _apply(build: Callable[[], Fault]) -> Result:
    """Build the fault and inject it; map our errors to chaoslib's."""
    run = session.current()
    try:
        fault = build()
        records = fault.inject(FaultContext(run.platform(), run.book.faults))
    except ResilienceError as exc:
        raise ActivityFailed(str(exc)) from exc
    not_landed = [r for r in records if not r.landed]
    if not_landed:
        raise ActivityFailed("; ".join(f"{r.target}: {r.error}" for r in not_landed))
    return [_record_json(r) for r in records]


def fault_action(build: Callable[P, Fault]) -> Callable[P, Result]:
    """Turn a fault builder into the Chaos Toolkit action that injects it.

    The builder stays reachable as `action.build`: the experiment loader builds every fault from its
    arguments at load time, so a bad value (`signal: SIGFOO`, `latency_ms: -5`) fails before anything starts.
    """

    @functools.wraps(build)
    def action(*args: P.args, **kwargs: P.kwargs) -> Result:
        return _apply(lambda: build(*args, **kwargs))

    action.__annotations__ = {**build.__annotations__, "return": "Result"}
    action.__signature__ = inspect.signature(build).replace(return_annotation=Result)  # type: ignore[attr-defined]
    action.build = build  # type: ignore[attr-defined]
    return action


def _selector(
    role: str,
    region: str | None,
    labels: Mapping[str, str] | None,
    count: int | None,
    percentage: float | None,
    max_fraction: float,
) -> Selector:
    return Selector(role, region, dict(labels or {}), count, percentage, max_fraction)


@fault_action
def kill_pods(
    role: str = "inference",
    count: int | None = None,
    signal: str = "SIGKILL",
    region: str | None = None,
    percentage: float | None = None,
    labels: dict[str, str] | None = None,
    grace_s: float = 5.0,
    max_fraction: float = 0.5,
    recovery_timeout_s: float = 60.0,
) -> Fault:
    """Kill pods of `role` (by `count`, default 1, or `percentage`; optionally in `region` / with `labels`).

    SIGKILL takes the whole pod (its process group) at once; SIGTERM lets it shut down and escalates to
    SIGKILL after `grace_s`. Evidence: the supervisor reaped that pid and saw the signal; then waits for
    the replacement to become ready. Refuses to hit more than `max_fraction` of the role's pods.
    """
    selector = _selector(role, region, labels, count, percentage, max_fraction)
    return PodKill(selector, signal, grace_s, recovery_timeout_s=recovery_timeout_s)


@fault_action
def hang_pods(
    duration_s: float = 10.0,
    role: str = "inference",
    count: int | None = None,
    region: str | None = None,
    percentage: float | None = None,
    labels: dict[str, str] | None = None,
    max_fraction: float = 0.5,
) -> Fault:
    """Freeze pods (SIGSTOP to every process of the pod) for `duration_s`, then SIGCONT them.

    Their sockets stay open, so callers hang instead of being refused: a wedged driver or a long pause.
    Evidence: every process of the group in state T. The supervisor's liveness probe may restart the pod.
    """
    selector = _selector(role, region, labels, count, percentage, max_fraction)
    return PodHang(selector, duration_s)


@fault_action
def crash_loop_pods(
    duration_s: float = 15.0,
    role: str = "inference",
    count: int | None = None,
    region: str | None = None,
    labels: dict[str, str] | None = None,
    max_fraction: float = 0.5,
) -> Fault:
    """SIGKILL the selected pods every time they start, for `duration_s`: a crash loop.

    Evidence: the kills, the restarts the supervisor counted and whether it flagged a crash loop.
    """
    selector = _selector(role, region, labels, count, None, max_fraction)
    return CrashLoop(selector, duration_s)


@fault_action
def saturate_gpu(
    utilization: float = 0.9, duration_s: float = 20.0, vram_fraction: float = 0.0, region: str | None = None
) -> Fault:
    """Burn the replicas' GPU at `utilization` (and hold `vram_fraction` of its free memory) for `duration_s`.

    Without a CUDA GPU this burns the replicas' CPU cores instead and says so: the record is named
    `compute-saturation (no GPU present)`. Evidence: NVML utilization, or measured CPU busy time.
    """
    return Saturation(utilization, duration_s, vram_fraction, region)


@fault_action
def partition_region(
    region: str = "a", direction: str = "gateway", duration_s: float = 10.0, mechanism: str = "auto"
) -> Fault:
    """Partition `region` for `duration_s`: from the gateway (`gateway`), from other regions (`regions`), or `full`.

    `nftables` (root, platform started with --netns) drops packets so clients time out; `proxy`
    re-points the gateway through a blackhole proxy. `auto` takes nftables when it can. The record
    names the mechanism used.
    """
    return RegionPartition(region, direction, duration_s, mechanism)


@fault_action
def add_latency(
    latency_ms: float = 50.0,
    jitter_ms: float = 0.0,
    duration_s: float = 10.0,
    region: str | None = None,
    count: int | None = None,
    percentage: float | None = None,
    labels: dict[str, str] | None = None,
    max_fraction: float = 0.5,
) -> Fault:
    """Delay traffic between the gateway and the selected replicas by `latency_ms` ± `jitter_ms` each way.

    Through a userspace proxy (this kernel has no netem). Evidence: chunks delayed and the mean delay applied.
    """
    selector = _selector("inference", region, labels, count, percentage, max_fraction)
    return NetworkLatency(selector, latency_ms, jitter_ms, duration_s)


@fault_action
def reset_connections(
    probability: float = 1.0,
    duration_s: float = 10.0,
    region: str | None = None,
    count: int | None = None,
    percentage: float | None = None,
    labels: dict[str, str] | None = None,
    max_fraction: float = 0.5,
) -> Fault:
    """Reset (TCP RST) `probability` of the gateway's new connections to the selected replicas."""
    selector = _selector("inference", region, labels, count, percentage, max_fraction)
    return ConnectionReset(selector, probability, duration_s)


@fault_action
def drop_packets(region: str = "a", percent: float = 10.0, duration_s: float = 10.0) -> Fault:
    """Drop `percent` of packets between the gateway and `region` (nftables; root and --netns)."""
    return PacketLoss(region, percent, duration_s)


@fault_action
def limit_bandwidth(region: str = "a", rate: str = "1mbit", duration_s: float = 10.0) -> Fault:
    """Limit the gateway<->`region` link to `rate` each way (tc tbf; root and --netns)."""
    return Bandwidth(region, rate, duration_s)


@fault_action
def rollout_bad_canary(
    version: int = 2,
    weight: int = 10,
    duration_s: float = 30.0,
    max_error_ratio: float = 0.01,
    max_latency_ratio: float = 2.0,
) -> Fault:
    """Roll out model `version` (a degraded one) as a canary at `weight`% and see whether the platform rolls it back.

    Evidence: the canary served requests; the rollout's final state and reason; time to rollback.
    """
    return BadCanary(version, weight, duration_s, max_error_ratio, max_latency_ratio)


@fault_action
def stall_cameras(cameras: list[int] | None = None, duration_s: float = 10.0) -> Fault:
    """Stall camera streams (default camera 0) for `duration_s`: no frames from them, the others go on."""
    return CameraFault(stall=list(cameras or [0]), duration_s=duration_s)


@fault_action
def corrupt_frames(ratio: float = 0.2, duration_s: float = 10.0) -> Fault:
    """Corrupt `ratio` of the cameras' frames (bit flips, truncation) for `duration_s`; preprocessing must reject them."""
    check.share("ratio", ratio)
    return CameraFault(corrupt_ratio=ratio, duration_s=duration_s)


def ensure_pods_ready(role: str | None = "inference", timeout_s: float = 60.0) -> list[str]:
    """Wait until every pod of `role` runs and is ready again (idempotent rollback for pod faults)."""
    run = session.current()
    try:
        pods = wait_all_ready(run.platform(), role, timeout_s)
    except ResilienceError as exc:
        raise ActivityFailed(str(exc)) from exc
    return [f"{p.name} pid {p.pid}" for p in pods]


def rollback_faults() -> list[str]:
    """Undo every fault this run still has in the ledger (idempotent; a no-op when all rolled back)."""
    run = session.current()
    ctx = FaultContext(run.platform(), run.book.faults)
    results = recover(ctx.book, ctx.platform, run_pid=os.getpid())
    failed = [r for r in results if r.error]
    if failed:
        raise ActivityFailed("; ".join(f"{r.entry.target}: {r.error}" for r in failed))
    return [f"{r.entry.kind.value} {r.entry.target}: {'; '.join(r.done)}" for r in results]


def _record_json(r: FaultRecord) -> dict[str, object]:
    return {
        "kind": r.kind.value,
        "target": r.target,
        "injected_at": r.injected_at,
        "landed": r.landed,
        "recovered_at": r.recovered_at,
        "evidence": dict(r.evidence),
        "error": r.error,
        "unmet": r.unmet,
    }
