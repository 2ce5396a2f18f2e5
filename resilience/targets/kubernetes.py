"""A Kubernetes namespace as a target, through the official `kubernetes` client.

What works today: listing the platform's pods as `Pod` records (role, region, track and model version from
their labels; ready, restarts and the last container exit from their status), and killing pods the way
Kubernetes does: deleting them through the API (`SIGKILL`: gracePeriodSeconds 0; `SIGTERM`: the pod's own
grace period). The evidence is the API's: the killed pod's UID gone, and a replacement with a new UID that
became Ready. Faults that need more of a cluster (hang, crash loop, partitions as NetworkPolicies, latency
through Chaos Mesh, rollouts) are refused with a FaultError naming what is missing, never faked.

Pods are selected server-side by the role label and filtered again here by every label (an API server, or
an emulator, that ignores a selector must not widen a fault's blast radius).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from resilience.errors import FaultError, PlatformError
from resilience.targets.base import Burner, Compute, FaultProxy, Pod, PodExit, RegionLink, TbfStats, poll
from resilience.targets.clusters import KubernetesSpec

log = logging.getLogger(__name__)

GRACE_KILL = 0


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _exit_of_statuses(statuses: list[Any]) -> PodExit | None:
    """The most recent container termination the kubelet recorded (`lastState.terminated`)."""
    ended = [s.last_state.terminated for s in statuses if s.last_state and s.last_state.terminated]
    if not ended:
        return None
    last = max(ended, key=lambda t: _epoch(t.finished_at) or 0.0)
    code = last.exit_code
    sig = signal.Signals(last.signal).name if last.signal else None
    if sig is None and code is not None and code > 128:  # the container runtime's convention: 128 + signal
        try:
            sig = signal.Signals(code - 128).name
        except ValueError:
            sig = None
    return PodExit(None, code, _epoch(last.finished_at) or 0.0, f"exited: {last.reason or 'terminated'}", sig)


class KubernetesTarget:
    """One namespace of one cluster (a kubeconfig context), already on the allow-list."""

    def __init__(self, spec: KubernetesSpec, state_dir: Path, api_client: Any = None) -> None:
        from kubernetes import client, config

        self.spec = spec
        self._state_dir = state_dir
        self.gateway_http = spec.gateway or ""
        self.gateway_grpc = spec.gateway_grpc or ""
        self.model = spec.model
        try:
            api = api_client or config.new_client_from_config(
                config_file=str(spec.kubeconfig) if spec.kubeconfig else None, context=spec.context
            )
        except (config.ConfigException, OSError) as exc:
            raise PlatformError(f"kubeconfig context {spec.context!r}: {exc}") from None
        self.core = client.CoreV1Api(api)
        self._api_exception = client.ApiException
        self._siblings: dict[str, set[str]] = {}
        """UID of a killed pod -> the UIDs of its role and region when it was killed (its replacement is new)."""
        self._grace: dict[str, int | None] = {}
        """UID of a deleted pod -> the grace period it was deleted with (0: its containers were SIGKILLed)."""

    @property
    def state_dir(self) -> Path:
        return self._state_dir

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._api_exception as exc:
            raise PlatformError(
                f"kubernetes {what} in namespace {self.spec.namespace!r} (context {self.spec.context!r}): "
                f"HTTP {exc.status} {exc.reason}"
            ) from None
        except OSError as exc:  # urllib3's connection errors
            raise PlatformError(f"kubernetes API of context {self.spec.context!r} did not answer ({exc})") from None

    # -- pods --------------------------------------------------------------------------------------------
    def _to_pod(self, item: Any) -> Pod | None:
        labels = dict(item.metadata.labels or {})
        spec = self.spec
        if spec.role_label not in labels or item.metadata.deletion_timestamp is not None:
            return None
        status = item.status
        conditions = {c.type: c for c in (status.conditions if status and status.conditions else [])}
        ready_c = conditions.get("Ready")
        ready = bool(ready_c and ready_c.status == "True") and (status.phase in (None, "Running"))
        statuses = list(status.container_statuses or []) if status else []
        version = labels.get(spec.model_version_label)
        return Pod(
            name=item.metadata.name,
            role=labels[spec.role_label],
            region=labels.get(spec.region_label, ""),
            pid=None,
            ready=ready,
            restarts=sum(int(s.restart_count or 0) for s in statuses),
            ready_at=_epoch(ready_c.last_transition_time) if ready and ready_c else None,
            last_exit=_exit_of_statuses(statuses),
            model_version=int(version) if version and version.isdigit() else None,
            variant=labels.get(spec.variant_label, "stable"),
            host=(status.pod_ip if status and status.pod_ip else ""),
            uid=item.metadata.uid,
        )

    def pods(self) -> list[Pod]:
        items = self._call(
            "list pods", self.core.list_namespaced_pod, self.spec.namespace, label_selector=self.spec.role_label
        ).items
        return [p for p in (self._to_pod(i) for i in items) if p is not None]

    def pod(self, name: str) -> Pod | None:
        return next((p for p in self.pods() if p.name == name), None)

    def select(self, role: str | None = None, region: str | None = None, names: list[str] | None = None) -> list[Pod]:
        return [
            p
            for p in self.pods()
            if (role is None or p.role == role)
            and (region is None or p.region == region)
            and (names is None or p.name in names)
        ]

    def status(self) -> dict[str, Any]:
        pods = self.pods()
        return {
            "target": "kubernetes",
            "context": self.spec.context,
            "namespace": self.spec.namespace,
            "regions": sorted({p.region for p in pods if p.region}),
            "model_versions": self.model_versions(),
            "pods": len(pods),
        }

    def model_versions(self) -> list[int]:
        return sorted({p.model_version for p in self.pods() if p.model_version is not None})

    def wait_for(
        self, name: str, predicate: Callable[[Pod], bool], timeout_s: float, poll_s: float = 0.1
    ) -> Pod | None:
        return poll(
            lambda: next((p for p in [self.pod(name)] if p is not None and predicate(p)), None), timeout_s, poll_s
        )

    # -- kill ----------------------------------------------------------------------------------------------
    def signal_pod(self, pod: Pod, sig: signal.Signals, missing_ok: bool = False) -> float:
        """Delete the pod: SIGKILL with gracePeriodSeconds 0, SIGTERM with its own grace period."""
        if sig not in (signal.SIGKILL, signal.SIGTERM):
            raise FaultError(
                f"{sig.name} to {pod.label}: the kubernetes target kills pods (SIGKILL, SIGTERM) through the API; "
                "freezing a pod's processes (hang) needs an exec into its container, not written yet"
            )
        if pod.uid:
            self._siblings[pod.uid] = {p.uid for p in self.select(role=pod.role, region=pod.region) if p.uid}
        grace = GRACE_KILL if sig == signal.SIGKILL else None
        if pod.uid:
            self._grace[pod.uid] = grace
        at = time.time()
        try:
            self.core.delete_namespaced_pod(pod.name, self.spec.namespace, grace_period_seconds=grace)
        except self._api_exception as exc:
            if exc.status == 404 and missing_ok:
                return at
            raise PlatformError(f"kubernetes: deleting pod {pod.name}: HTTP {exc.status} {exc.reason}") from None
        log.info("deleted pod %s (uid %s, gracePeriodSeconds=%s)", pod.name, pod.uid, grace)
        return at

    def exit_of(self, pod: Pod, timeout_s: float) -> PodExit | None:
        """When the API server no longer has this pod (its UID gone): the deletion is done."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                item = self.core.read_namespaced_pod(pod.name, self.spec.namespace)
                gone = item.metadata.uid != pod.uid
            except self._api_exception as exc:
                if exc.status != 404:
                    raise PlatformError(f"kubernetes: reading pod {pod.name}: HTTP {exc.status}") from None
                gone = True
            if gone:
                return PodExit(
                    None,
                    None,
                    time.time(),
                    f"exited: pod {pod.name} uid {pod.uid} deleted through the API (gone from the API server)",
                    "SIGKILL" if self._grace.get(pod.uid or "", None) == GRACE_KILL else None,
                )
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def replacement_of(self, pod: Pod, timeout_s: float) -> Pod | None:
        """A Ready pod of the same role, region and track with a UID that did not exist when `pod` was killed."""
        known = self._siblings.get(pod.uid or "", set()) | {pod.uid}

        def new_ready() -> Pod | None:
            fresh = (p for p in self.select(role=pod.role, region=pod.region) if p.ready and p.uid not in known)
            return next((p for p in fresh if p.variant == pod.variant), None)

        return poll(new_ready, timeout_s, 0.1)

    def group_states(self, pgid: int) -> dict[int, str]:
        return {}  # no process view of a cluster's containers: the kubelet escalates SIGTERM itself

    # -- not (yet) on a cluster ------------------------------------------------------------------------------
    def _missing(self, what: str) -> FaultError:
        return FaultError(
            f"{what} is not available on the kubernetes target yet (context {self.spec.context!r}); "
            "run this fault against the local platform"
        )

    def compute(self, region: str | None) -> Compute:
        raise self._missing("GPU saturation (a burner Job on the inference nodes, with DCGM evidence)")

    def free_vram_bytes(self, device: int) -> int | None:
        return None

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
        raise self._missing("GPU saturation (a burner Job on the inference nodes, with DCGM evidence)")

    def start_fault_proxy(self, pod: Pod, mode: str, state_file: Path, **settings: Any) -> FaultProxy:
        raise self._missing("a fault proxy in front of a pod (latency, resets: Chaos Mesh NetworkChaos)")

    def route_pod(self, name: str, via: tuple[str, int, int] | None) -> dict[str, Any]:
        raise self._missing("re-pointing the gateway through a fault proxy (latency, resets)")

    def rollout(self, action: str = "", body: dict[str, Any] | None = None) -> dict[str, Any]:
        raise self._missing("a rollout (bad canary)")

    def camera_control(self, settings: dict[str, Any]) -> dict[str, Any]:
        raise self._missing("camera control")

    def stage_metrics(self, stage: str) -> dict[str, float]:
        raise self._missing("pipeline stage metrics")

    def region_link(self, region: str) -> RegionLink | None:
        return None

    def packet_faults_unavailable(self) -> str | None:
        return "packet filters on a cluster need NetworkPolicies or Chaos Mesh, not written yet"

    def cut_region(self, table: str, region: str, direction: str, loss_percent: float | None = None) -> None:
        raise self._missing("a region partition (NetworkPolicy)")

    def cut_counters(self, table: str) -> dict[str, int]:
        raise self._missing("a region partition (NetworkPolicy)")

    def heal_cut(self, table: str) -> bool:
        return False

    def connect_outcome(self, region: str, port: int, source: str, timeout_s: float = 0.5) -> str:
        raise self._missing("a connection probe from inside the cluster")

    def shape_link(self, region: str, rate: str) -> None:
        raise self._missing("a bandwidth limit (Chaos Mesh NetworkChaos)")

    def link_stats(self, region: str) -> dict[str, TbfStats | None]:
        raise self._missing("a bandwidth limit (Chaos Mesh NetworkChaos)")

    def unshape_link(self, region: str) -> list[str]:
        return []
