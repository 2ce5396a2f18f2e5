"""The seam between faults and platforms: what a fault may ask of a target, and the typed records it gets back.

Faults import only this module's names (and `resilience.model`), never a concrete target. A new target (a
Kubernetes cluster, say) implements `Target`: list its pods as `Pod` records, signal a pod's processes, read
their states, route the gateway's traffic for a pod through a proxy, drive a rollout, control the cameras,
read a pipeline stage's metrics, and cut, thin or throttle a region's network (`cut_region`, `shape_link`:
the fault says what, the target knows how, e.g. nftables and tc for regions in network namespaces in
`regionnet.py`). `LocalPlatform` (local.py) is the reference platform's implementation.

The records are the toolkit's own frozen dataclasses; what a platform serves is parsed into them through the
wire contracts both sides import (`reference_platform.contracts`: `StatusPodRecord`, `PodExitRecord`,
`RegionNetwork`), so a pod's JSON is spelled once.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from reference_platform.contracts import PodExitRecord, RegionNetwork, StatusPodRecord

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PodExit:
    """How a pod's process ended, as the process that reaped it (the supervisor, a kubelet) saw it."""

    pid: int | None
    """The process that ended (None where the platform does not show processes: a deleted Kubernetes pod)."""
    returncode: int | None
    at: float
    reason: str
    """`exited: signal 9` / `exited: code 1` when it ended by itself or by someone's signal; otherwise what
    the parent did to it (`liveness probe failed 3 times`, `rollout: restarted on v2`)."""
    signal: str | None = None
    """The signal that ended it (`SIGKILL`), if any."""

    @classmethod
    def from_record(cls, r: PodExitRecord) -> PodExit:
        return cls(pid=r.pid, returncode=r.returncode, at=r.at, reason=r.reason, signal=r.signal)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PodExit:
        """A pod's `last_exit` as the platform serves it; pydantic's ValidationError when it is not one."""
        return cls.from_record(PodExitRecord.model_validate(d))


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    role: str
    region: str
    pid: int | None
    ready: bool
    restarts: int
    ready_at: float | None
    last_exit: PodExit | None
    """How the pod's previous process ended, as its parent saw it."""
    model_version: int | None = None
    server_p99_ms: float | None = None
    variant: str = "stable"
    crash_loop: bool = False
    host: str = "127.0.0.1"
    """Where the pod's ports are reached: loopback, or its region namespace's address."""
    http_port: int | None = None
    grpc_port: int | None = None
    uid: str | None = None
    """The platform's identity of this incarnation of the pod, where it has one (a Kubernetes pod's UID);
    locally the pid is the identity."""

    @property
    def running(self) -> bool:
        """It has a live incarnation: a process (local) or a pod object the API server holds (a cluster)."""
        return self.pid is not None or self.uid is not None

    @property
    def identity(self) -> str:
        """What names this incarnation in evidence: `pid 123` or `uid 9f...`."""
        return f"uid {self.uid}" if self.uid else f"pid {self.pid}"

    @classmethod
    def from_record(cls, r: StatusPodRecord) -> Pod:
        return cls(
            name=r.name,
            role=r.role,
            region=r.region,
            pid=r.pid,
            ready=r.ready,
            restarts=r.restarts,
            ready_at=r.ready_at,
            last_exit=PodExit.from_record(r.last_exit) if r.last_exit else None,
            model_version=r.model_version,
            server_p99_ms=r.server_p99_ms,
            variant=r.variant,
            crash_loop=r.crash_loop,
            host=r.host,
            http_port=r.http_port,
            grpc_port=r.grpc_port,
        )

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Pod:
        """An item of the platform's `/pods` (or `/status`'s pods); pydantic's ValidationError when it is not one."""
        return cls.from_record(StatusPodRecord.model_validate(d))

    @property
    def labels(self) -> dict[str, object]:
        """What a selector's `labels` can match."""
        return {
            "name": self.name,
            "role": self.role,
            "region": self.region,
            "variant": self.variant,
            "model_version": self.model_version,
        }

    @property
    def label(self) -> str:
        return f"pod {self.name} (role={self.role}, region={self.region})"


@dataclass(frozen=True, slots=True)
class RegionLink:
    """A region's own network: its namespace, the veth pair to the host and the addresses on each side."""

    region: str
    netns: str
    cidr: str
    gateway_ip: str
    """The gateway's source address towards the region (what a partition cuts)."""
    control_ip: str
    """The supervisor's probes' source address ("the kubelet": a partition spares it)."""
    pod_ip: str
    host_dev: str
    ns_dev: str

    @classmethod
    def from_record(cls, region: str, r: RegionNetwork) -> RegionLink:
        """The region's network as the platform's state file records it."""
        return cls(
            region=region,
            netns=r.netns,
            cidr=r.cidr,
            gateway_ip=r.gateway_ip,
            control_ip=r.control_ip,
            pod_ip=r.pod_ip,
            host_dev=r.host_dev,
            ns_dev=r.ns_dev,
        )

    @property
    def ends(self) -> list[tuple[str, str | None]]:
        """Both ends of the veth as (device, namespace or None for the host)."""
        return [(self.host_dev, None), (self.ns_dev, self.netns)]


@dataclass(frozen=True, slots=True)
class TbfStats:
    """One tbf qdisc's counters, as `tc -s qdisc show` prints them (cumulative since it was added)."""

    rate_bps: float | None
    sent_bytes: int
    sent_packets: int
    dropped: int
    overlimits: int


@dataclass(frozen=True, slots=True)
class Compute:
    """What a saturation fault burns where the selected replicas run: their GPU, or else their CPU cores."""

    gpu: bool
    cpus: tuple[int, ...] = ()
    """The cores the replicas may run on (their CPU affinity), for a machine without a GPU."""


class Burner(Protocol):
    """A running saturation burner (a helper process): its pid, its evidence, and its stop."""

    @property
    def pid(self) -> int: ...

    def wait(self, timeout_s: float) -> dict[str, Any]:
        """Its final evidence once it ends by itself (or after `timeout_s`)."""
        ...

    def stop(self, timeout_s: float = 3.0) -> dict[str, Any]:
        """Stop it (idempotent); its final evidence."""
        ...


class FaultProxy(Protocol):
    """A running userspace fault proxy in front of a pod's ports (latency, resets, a dropped link)."""

    @property
    def pid(self) -> int: ...

    @property
    def listen_ports(self) -> tuple[int, ...]:
        """Where it listens, one port per upstream (the pod's HTTP, then gRPC port)."""
        ...

    def stats(self) -> dict[str, Any]:
        """Its counters now (connections, delayed chunks, resets, dropped SYNs)."""
        ...

    def stop(self, timeout_s: float = 3.0) -> None: ...


def poll(probe: Callable[[], T | None], timeout_s: float, poll_s: float) -> T | None:
    """`probe()` every `poll_s` until it answers something (returned), or None once `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            return None
        time.sleep(poll_s)


class Target(Protocol):
    """What faults (and the run around them) need from a platform: no more. Every method answers from the
    platform, now."""

    gateway_http: str
    """The KServe v2 HTTP endpoint the load is sent to."""
    gateway_grpc: str
    model: str
    """The model the load asks for."""

    @property
    def state_dir(self) -> Path:
        """Where this run keeps the target's fault ledger and scratch files."""
        ...

    def region_link(self, region: str) -> RegionLink | None:
        """The region's own network, or None when the platform's regions share one (loopback, say)."""
        ...

    def packet_faults_unavailable(self) -> str | None:
        """None when packets between the gateway and a region can be dropped or throttled here, else why not."""
        ...

    def cut_region(self, table: str, region: str, direction: str, loss_percent: float | None = None) -> None:
        """Drop packets of region `region` in `direction` (`gateway`, `regions`, `full`), all of them or
        `loss_percent`% at random, with a packet filter named `table` (one per fault; undone by `heal_cut`)."""
        ...

    def cut_counters(self, table: str) -> dict[str, int]:
        """Packets the cut `table` dropped so far, per path (`gateway->region`, `region->b`, ...)."""
        ...

    def heal_cut(self, table: str) -> bool:
        """Remove the cut; False when it was already gone."""
        ...

    def connect_outcome(self, region: str, port: int, source: str, timeout_s: float = 0.5) -> str:
        """`connected`, `timeout` or `refused`: a TCP connection to the region's pods on `port` from `source`
        (`gateway`, `control` for the platform's own probes, or another region's name), now."""
        ...

    def shape_link(self, region: str, rate: str) -> None:
        """Limit the link between the gateway and the region to `rate` (tc syntax, `1mbit`) each way."""
        ...

    def link_stats(self, region: str) -> dict[str, TbfStats | None]:
        """Each end of the region's link: its shaper's counters, or None where it has none."""
        ...

    def unshape_link(self, region: str) -> list[str]:
        """Remove the limit; the ends where it is still on (empty when it is gone)."""
        ...

    def status(self) -> dict[str, Any]:
        """The platform's own summary; raises PlatformError when it does not answer."""
        ...

    def pods(self) -> list[Pod]: ...

    def pod(self, name: str) -> Pod | None: ...

    def select(self, role: str | None = None, region: str | None = None, names: list[str] | None = None) -> list[Pod]:
        """Running pods matching every given criterion."""
        ...

    def signal_pod(self, pod: Pod, sig: signal.Signals, missing_ok: bool = False) -> float:
        """Send `sig` to every process of the pod; return when it was sent."""
        ...

    def group_states(self, pgid: int) -> dict[int, str]:
        """State letter (R, S, T for stopped, Z...) of every process of the pod."""
        ...

    def wait_for(
        self, name: str, predicate: Callable[[Pod], bool], timeout_s: float, poll_s: float = 0.05
    ) -> Pod | None:
        """Poll until `predicate(pod)` holds; that pod, or None on timeout."""
        ...

    def exit_of(self, pod: Pod, timeout_s: float) -> PodExit | None:
        """How this incarnation of `pod` ended, as whoever reaped it saw it (the supervisor, the API server
        deleting it); None if it had not ended within `timeout_s`."""
        ...

    def replacement_of(self, pod: Pod, timeout_s: float) -> Pod | None:
        """The ready pod that took this incarnation's place (the same pod restarted, or a new one its
        controller made); None if none was ready within `timeout_s`."""
        ...

    def route_pod(self, name: str, via: tuple[str, int, int] | None) -> dict[str, Any]:
        """Send the gateway's traffic for pod `name` through (host, http port, grpc port), or direct again."""
        ...

    def rollout(self, action: str = "", body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The rollout's state; or start one (`""` with a policy body), `promote` or `abort` it."""
        ...

    def model_versions(self) -> list[int]:
        """The model versions a rollout can deploy (those in the platform's model repository)."""
        ...

    def compute(self, region: str | None) -> Compute:
        """What the inference replicas (of `region`, or all) run on: a GPU, or which CPU cores."""
        ...

    def free_vram_bytes(self, device: int) -> int | None:
        """Free memory on GPU `device` now, or None when it cannot be read."""
        ...

    def start_burner(
        self,
        utilization: float,
        duration_s: float,
        state_file: Path,
        compute: Compute,
        *,
        device: int = 0,
        vram_fraction: float = 0.0,
        timeout_s: float = 10.0,
    ) -> Burner:
        """Burn `utilization` of `compute` (and hold `vram_fraction` of the free GPU memory) for `duration_s`;
        return once it burns. Its evidence goes to `state_file`."""
        ...

    def start_fault_proxy(self, pod: Pod, mode: str, state_file: Path, **settings: Any) -> FaultProxy:
        """A proxy in front of the pod's HTTP and gRPC ports (`mode`: delay, reset, drop; `settings`:
        latency_ms, jitter_ms, probability); `route_pod` then sends the gateway's traffic through it."""
        ...

    def camera_control(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Change the cameras' settings (fps, defect_rate, corrupt_ratio, stalled); the new ones."""
        ...

    def stage_metrics(self, stage: str) -> dict[str, float]:
        """A pipeline stage's Prometheus samples (labels kept in the names)."""
        ...
