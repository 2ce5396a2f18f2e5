"""Network faults between the gateway and a region or replica: partition, latency, loss, bandwidth, resets.

Two mechanisms, and every record says which one was used:
- `nftables` (root, regions in network namespaces): real packet filters on the host side of a region's
  veth; dropped packets make clients time out, not get refused. `tbf` for bandwidth (`faults.bandwidth`).
- `proxy` (unprivileged): the gateway's entries for the region's replicas are re-pointed through a
  userspace fault proxy (`resilience.targets.faultproxy`) that blackholes, delays or resets. Latency
  always goes this way: the kernel here has no netem.
The supervisor's own probes stay direct in both: it plays each region's kubelet, which a partition
between regions does not cut.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from resilience.errors import FaultError, ResilienceError
from resilience.faults import args
from resilience.faults.base import FaultContext
from resilience.faults.ledger import DeleteTable, LedgerEntry, RestoreRoute, StopProxy, UndoStep
from resilience.faults.select import Selector
from resilience.model import FaultKind, FaultRecord
from resilience.targets import Pod, Target
from resilience.targets.base import FaultProxy

log = logging.getLogger(__name__)

DIRECTIONS = ("gateway", "regions", "full")
MECHANISMS = ("auto", "nftables", "proxy")


def choose_mechanism(platform: Target, region: str, wanted: str) -> str:
    """`nftables` when the region has a namespace and we may filter packets, else `proxy` (if allowed)."""
    args.one_of("mechanism", wanted, MECHANISMS)
    why = platform.packet_faults_unavailable()
    if platform.region_link(region) is None:
        why = "the platform's regions share the loopback network (start it with `platform up --netns`, as root)"
    if wanted == "nftables" and why:
        raise FaultError(f"mechanism nftables is not possible here: {why}; or use mechanism: proxy")
    return "proxy" if wanted == "proxy" or why else "nftables"


def _region_pods(platform: Target, region: str) -> list[Pod]:
    pods = platform.select(role="inference", region=region)
    if not pods:
        raise FaultError(f"region {region!r} has no running inference pod; check `resilience platform status`")
    return pods


def _table_name(entry: LedgerEntry) -> str:
    return "resilience_" + entry.id.replace("-", "_")


@dataclass
class Detour:
    """The fault proxies the gateway's traffic for some pods goes through, and what could not be undone."""

    proxies: dict[str, FaultProxy] = field(default_factory=dict)
    """Pod name -> its proxy."""
    unrestored: dict[str, str] = field(default_factory=dict)
    """Pod name -> why the gateway could not be pointed back at it (its ledger entry is kept for `recover`)."""
    routed_at: dict[str, float] = field(default_factory=dict)
    """Pod name -> when the gateway's traffic for it started going through its proxy (the fault landed)."""

    def check_restored(self) -> None:
        """Raise if a route was left through a proxy: the fault outlived its duration and the run must say so."""
        if self.unrestored:
            why = "; ".join(f"{name}: {exc}" for name, exc in self.unrestored.items())
            raise FaultError(
                f"could not point the gateway back at {', '.join(self.unrestored)} ({why}); it still sends their "
                "traffic to a stopped fault proxy, and the ledger entry is kept: run `resilience recover`"
            )


@contextlib.contextmanager
def proxied(
    ctx: FaultContext,
    kind: FaultKind,
    pods: list[Pod],
    mode: str,
    on_routed: Callable[[Pod, float], None] | None = None,
    **proxy_args: Any,
) -> Iterator[Detour]:
    """Route the gateway's traffic for `pods` through fault proxies in `mode`; undo it all on exit.

    Each proxy starts before anything is re-pointed (harmless until then) and its ledger entry is
    written before the gateway is re-pointed, so `resilience recover` can always undo the route. A
    route that cannot be restored keeps its entry and is named in `Detour.unrestored`: the caller
    settles its records, then calls `check_restored`, so the failure reaches the verdict. `on_routed(pod, at)`
    hears each pod as its traffic goes through the proxy (an interrupt mid-way leaves a record of what landed).
    """
    detour = Detour()
    entries: dict[str, LedgerEntry] = {}
    try:
        for pod in pods:
            state = ctx.scratch(f"proxy-{pod.name}-{int(time.time() * 1000)}.json")
            proxy = ctx.platform.start_fault_proxy(pod, mode, state, **proxy_args)
            detour.proxies[pod.name] = proxy
            undo: list[UndoStep] = [
                RestoreRoute(pod=pod.name),
                StopProxy(pid=proxy.pid),
            ]
            entries[pod.name] = ctx.book.record(kind, pod.label, undo)
            http, grpc = proxy.listen_ports
            ctx.platform.route_pod(pod.name, ("127.0.0.1", http, grpc))
            detour.routed_at[pod.name] = time.time()
            if on_routed is not None:
                on_routed(pod, detour.routed_at[pod.name])
        yield detour
    finally:
        for name in detour.proxies:
            try:
                ctx.platform.route_pod(name, None)
            except (ResilienceError, OSError, ValueError) as exc:  # refused, no answer, or not JSON
                log.error("could not point the gateway back at %s (%s); `resilience recover` will", name, exc)
                detour.unrestored[name] = str(exc)
        for proxy in detour.proxies.values():
            proxy.stop()
        for name, entry in entries.items():
            if name not in detour.unrestored:
                ctx.book.clear(entry)


def held_through_proxies(
    ctx: FaultContext,
    kind: FaultKind,
    pods: list[Pod],
    duration_s: float,
    judge: Callable[[Pod, dict[str, Any]], tuple[bool, dict[str, Any], str | None]],
    mode: str,
    **proxy_args: Any,
) -> list[FaultRecord]:
    """Route `pods` through proxies in `mode` for `duration_s`, then judge each pod's proxy counters.

    Raises FaultError (after settling the records) when a route could not be restored.
    """
    slots: dict[str, int] = {}

    def routed(pod: Pod, at: float) -> None:
        slots[pod.name] = ctx.pending(FaultRecord(kind, pod.label, at, False, {"mechanism": "proxy"}))

    with proxied(ctx, kind, pods, mode, on_routed=routed, **proxy_args) as detour:
        healed = _hold(duration_s)
        stats = {name: p.stats() for name, p in detour.proxies.items()}
    records = []
    for pod in pods:
        landed, evidence, error = judge(pod, stats[pod.name])
        still_on = detour.unrestored.get(pod.name)
        if still_on is not None:
            evidence = evidence | {"route_restore_failed": still_on}
        at = detour.routed_at[pod.name]
        rec = FaultRecord(kind, pod.label, at, landed, evidence, None if still_on else healed, error)
        records.append(ctx.settle(slots[pod.name], rec))
    detour.check_restored()
    return records


def _hold(duration_s: float) -> float:
    time.sleep(duration_s)
    return time.time()


@dataclass(frozen=True, slots=True)
class RegionPartition:
    """Cut a region off for `duration_s`: from the gateway (`gateway`), from the other regions (`regions`), or both (`full`)."""

    region: str = "a"
    direction: str = "gateway"
    duration_s: float = 10.0
    mechanism: str = "auto"
    kind: FaultKind = FaultKind.REGION_PARTITION

    def __post_init__(self) -> None:
        args.one_of("direction", self.direction, DIRECTIONS)
        args.one_of("mechanism", self.mechanism, MECHANISMS)
        args.positive("duration_s", self.duration_s)

    def plan(self, platform: Target) -> list[str]:
        how = choose_mechanism(platform, self.region, self.mechanism)
        pods = _region_pods(platform, self.region)
        return [
            f"partition region {self.region} ({self.direction}, {how}) for {self.duration_s:g} s: {', '.join(p.name for p in pods)}"
        ]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        how = choose_mechanism(ctx.platform, self.region, self.mechanism)
        if how == "proxy" and self.direction != "gateway":
            raise FaultError(
                f"direction {self.direction} needs regions in network namespaces (replicas do not talk to each "
                "other through the gateway); start the platform with `platform up --netns` as root"
            )
        pods = _region_pods(ctx.platform, self.region)
        target = f"region {self.region} ({self.direction})"
        return [self._nftables(ctx, pods, target) if how == "nftables" else self._proxy(ctx, pods, target)]

    def _nftables(self, ctx: FaultContext, pods: list[Pod], target: str) -> FaultRecord:
        platform = ctx.platform
        link = platform.region_link(self.region)
        assert link is not None  # choose_mechanism said nftables
        entry = ctx.book.record(self.kind, target, [])
        table = _table_name(entry)
        entry = ctx.book.amend(entry, [DeleteTable(table=table)])
        evidence: dict[str, Any] = {"mechanism": "nftables", "table": table, "netns": link.netns}
        port = pods[0].http_port or 0
        try:
            platform.cut_region(table, self.region, self.direction)
            at = time.time()
            slot = ctx.pending(FaultRecord(self.kind, target, at, False, evidence, error="not verified yet"))
            if self.direction in ("gateway", "full"):
                evidence["gateway_connect"] = platform.connect_outcome(self.region, port, "gateway")
                evidence["control_plane_connect"] = platform.connect_outcome(self.region, port, "control")
            if self.direction in ("regions", "full"):
                others = [r for r in platform.status().get("regions", []) if r != self.region]
                evidence["from_other_region_connect"] = [platform.connect_outcome(self.region, port, o) for o in others]
            _hold(self.duration_s)
            evidence["dropped_packets"] = platform.cut_counters(table)
        finally:
            platform.heal_cut(table)
            healed = time.time()
            ctx.book.clear(entry)
        evidence["heal_to_first_connect_s"] = _time_to_connect(platform, self.region, port)
        landed = self._landed(evidence)
        error = None if landed else f"no evidence the partition held: {evidence}"
        return ctx.settle(slot, FaultRecord(self.kind, target, at, landed, evidence, healed, error))

    def _landed(self, ev: dict[str, Any]) -> bool:
        ok = True
        if self.direction in ("gateway", "full"):
            ok &= ev.get("gateway_connect") == "timeout" and sum(ev.get("dropped_packets", {}).values()) > 0
        if self.direction in ("regions", "full"):
            ok &= bool(ev.get("from_other_region_connect")) and all(
                o == "timeout" for o in ev["from_other_region_connect"]
            )
        return ok

    def _proxy(self, ctx: FaultContext, pods: list[Pod], target: str) -> FaultRecord:
        with proxied(ctx, self.kind, pods, "drop") as detour:
            at = time.time()
            evidence: dict[str, Any] = {"mechanism": "proxy (unprivileged)", "pods": [p.name for p in pods]}
            slot = ctx.pending(FaultRecord(self.kind, target, at, False, evidence, error="not verified yet"))
            _hold(self.duration_s)
            stats = {name: p.stats() for name, p in detour.proxies.items()}
        healed = None if detour.unrestored else time.time()  # the routes are direct again
        if detour.unrestored:
            evidence["route_restore_failed"] = dict(detour.unrestored)
        # SYNs the kernel dropped at the proxies' full listen queues (host-wide counter, so a lower bound of 1 each)
        evidence["syns_dropped"] = max((s.get("listen_drops_host", 0) for s in stats.values()), default=0)
        landed = evidence["syns_dropped"] >= len(pods)
        error = (
            None if landed else "no connection attempt into the partitioned region was dropped (is traffic flowing?)"
        )
        record = ctx.settle(slot, FaultRecord(self.kind, target, at, landed, evidence, healed, error))
        detour.check_restored()
        return record


def _time_to_connect(platform: Target, region: str, port: int, timeout_s: float = 5.0) -> float | None:
    """Seconds until the gateway's first connection to the region succeeds after a heal; None if none did."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if platform.connect_outcome(region, port, "gateway", 0.2) == "connected":
            return round(time.monotonic() - start, 4)
        time.sleep(0.005)
    return None


@dataclass(frozen=True, slots=True)
class NetworkLatency:
    """Add `latency_ms` (+- `jitter_ms`) each way between the gateway and the selected replicas, for `duration_s`."""

    selector: Selector = field(default_factory=Selector)
    latency_ms: float = 50.0
    jitter_ms: float = 0.0
    duration_s: float = 10.0
    kind: FaultKind = FaultKind.NETWORK_LATENCY

    def __post_init__(self) -> None:
        args.non_negative("latency_ms", self.latency_ms)
        args.non_negative("jitter_ms", self.jitter_ms)
        args.positive("duration_s", self.duration_s)

    def plan(self, platform: Target) -> list[str]:
        return [
            f"+{self.latency_ms:g}±{self.jitter_ms:g} ms to {p.label} for {self.duration_s:g} s (proxy)"
            for p in self.selector.pick(platform)
        ]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        return held_through_proxies(
            ctx,
            self.kind,
            self.selector.pick(ctx.platform),
            self.duration_s,
            self._judge,
            mode="delay",
            latency_ms=self.latency_ms,
            jitter_ms=self.jitter_ms,
        )

    def _judge(self, pod: Pod, s: dict[str, Any]) -> tuple[bool, dict[str, Any], str | None]:
        chunks = int(s.get("chunks_delayed", 0))
        mean = s.get("delay_ms_total", 0) / chunks if chunks else None
        ev = {
            "mechanism": "proxy (userspace; no netem in this kernel)",
            "chunks_delayed": chunks,
            "mean_delay_ms": round(mean, 2) if mean is not None else None,
            "connections": s.get("connections_accepted", 0),
        }
        landed = chunks > 0 and mean is not None and abs(mean - self.latency_ms) <= max(1.0, self.jitter_ms)
        return landed, ev, None if landed else f"no delayed traffic seen on {pod.name}'s link: {ev}"


@dataclass(frozen=True, slots=True)
class ConnectionReset:
    """Reset `probability` of new connections from the gateway to the selected replicas, for `duration_s`."""

    selector: Selector = field(default_factory=Selector)
    probability: float = 1.0
    duration_s: float = 10.0
    kind: FaultKind = FaultKind.CONNECTION_RESET

    def __post_init__(self) -> None:
        args.share("probability", self.probability)
        args.positive("duration_s", self.duration_s)

    def plan(self, platform: Target) -> list[str]:
        return [
            f"reset {self.probability:.0%} of connections to {p.label} for {self.duration_s:g} s"
            for p in self.selector.pick(platform)
        ]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        return held_through_proxies(
            ctx,
            self.kind,
            self.selector.pick(ctx.platform),
            self.duration_s,
            self._judge,
            mode="reset",
            probability=self.probability,
        )

    def _judge(self, pod: Pod, s: dict[str, Any]) -> tuple[bool, dict[str, Any], str | None]:
        ev = {
            "mechanism": "proxy (TCP RST via SO_LINGER 0)",
            "resets": s.get("resets", 0),
            "connections": s.get("connections_accepted", 0),
        }
        landed = ev["resets"] > 0
        return landed, ev, None if landed else "no connection was reset"


@dataclass(frozen=True, slots=True)
class PacketLoss:
    """Drop `percent` of the packets between the gateway and a region (nftables `numgen`), for `duration_s`."""

    region: str = "a"
    percent: float = 10.0
    duration_s: float = 10.0
    kind: FaultKind = FaultKind.NETWORK_LOSS

    def __post_init__(self) -> None:
        args.share("percent", self.percent, top=100)
        args.positive("duration_s", self.duration_s)

    def plan(self, platform: Target) -> list[str]:
        choose_mechanism(platform, self.region, "nftables")
        return [
            f"drop {self.percent:g}% of packets gateway<->region {self.region} for {self.duration_s:g} s (nftables)"
        ]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        choose_mechanism(ctx.platform, self.region, "nftables")
        target = f"region {self.region} (gateway<->region)"
        entry = ctx.book.record(self.kind, target, [])
        table = _table_name(entry)
        entry = ctx.book.amend(entry, [DeleteTable(table=table)])
        try:
            ctx.platform.cut_region(table, self.region, "gateway", loss_percent=self.percent)
            at = time.time()
            slot = ctx.pending(FaultRecord(self.kind, target, at, False, {"mechanism": "nftables", "table": table}))
            healed = _hold(self.duration_s)
            dropped = sum(ctx.platform.cut_counters(table).values())
        finally:
            ctx.platform.heal_cut(table)
            ctx.book.clear(entry)
        ev = {"mechanism": "nftables numgen", "table": table, "dropped_packets": dropped, "percent": self.percent}
        return [
            ctx.settle(
                slot,
                FaultRecord(
                    self.kind, target, at, dropped > 0, ev, healed, None if dropped else "no packet was dropped"
                ),
            )
        ]
