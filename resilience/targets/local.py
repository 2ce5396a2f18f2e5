"""The local reference platform as a target: read its state file, talk to its supervisor over HTTP.

Faults are applied from here, by this process (a real `killpg(SIGKILL)` of the pod's process group),
and the supervisor — the pod's parent, which reaps it — is asked what it saw: that is the evidence.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from pydantic import ValidationError

from reference_platform.contracts import STATE_FILE as STATE_FILE
from reference_platform.contracts import PlatformState
from resilience.errors import FaultError, PlatformError, UsageError
from resilience.targets import burner, faultproxy, netfilter, regionnet
from resilience.targets.base import Compute, Pod, PodExit, RegionLink, TbfStats, poll

log = logging.getLogger(__name__)

STATE_DIR_ENV = "RESILIENCE_STATE_DIR"


def default_state_dir() -> Path:
    """`$RESILIENCE_STATE_DIR`, else `.resilience/` in the working directory."""
    return Path(os.environ.get(STATE_DIR_ENV) or ".resilience").resolve()


def read_state(path: Path) -> PlatformState:
    """The platform state file at `path`, as the supervisor wrote it; PlatformError, naming the file and the
    fix, when there is none or it is not one (half-written, another version's, edited by hand)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PlatformError(
            f"no local platform is running ({path} does not exist); start one with `resilience platform up`, "
            "or add `--with-platform` to this command (run, suite, gate and gameday take it)"
        ) from None
    except OSError as exc:
        raise PlatformError(f"{path}: unreadable platform state ({exc}); run `resilience platform down`") from exc
    try:
        return PlatformState.model_validate_json(text)
    except ValidationError as exc:
        raise PlatformError(
            f"{path}: not a platform state file this version reads ({_problems(exc)}); "
            "run `resilience platform down` to stop what it names and remove it, then `resilience platform up`"
        ) from None


def _problems(exc: ValidationError, most: int = 3) -> str:
    """`gateway.http: Field required; ...`: where each problem is (the first few), for a one-line message."""
    errors = exc.errors()
    said = [f"{'.'.join(str(p) for p in e['loc']) or 'the file'}: {e['msg']}" for e in errors[:most]]
    return "; ".join(said) + (f"; and {len(errors) - most} more" if len(errors) > most else "")


class LocalPlatform:
    """A running local reference platform."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = state_dir or default_state_dir()
        self.platform_state = read_state(self.state_dir / STATE_FILE)
        """The state file, as the supervisor wrote it."""
        self.state: dict[str, Any] = self.platform_state.model_dump(mode="json")
        """The same as plain JSON, for callers that index it (`state["platform_id"]`)."""
        self.control_url: str = self.platform_state.control_url
        self.gateway_http: str = self.platform_state.gateway.http
        self.gateway_grpc: str = self.platform_state.gateway.grpc
        self.model: str = self.platform_state.model

    def _get(self, path: str) -> Any:
        try:
            resp = httpx.get(self.control_url + path, timeout=2.0)
            resp.raise_for_status()
            return resp.json()
        except httpx.HTTPError as exc:
            raise PlatformError(
                f"the platform supervisor at {self.control_url} did not answer ({exc}); "
                f"check `resilience platform status`"
            ) from exc

    def rollout(self, action: str = "", body: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET the rollout state, or POST `action` ("" to start, "promote", "abort") to the supervisor."""
        path = "/rollout" + (f"/{action}" if action else "")
        if body is None and not action:
            return _json_request(self.control_url + path, None, 5.0, "the platform supervisor", "rollout", UsageError)
        return _json_request(
            self.control_url + path, body or {}, 300.0, "the platform supervisor", "rollout", UsageError
        )

    def _post(self, path: str, body: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
        return _json_request(self.control_url + path, body, timeout_s, "the platform supervisor", path, PlatformError)

    def _links(self) -> dict[str, RegionLink]:
        """Each region's network namespace, addresses and veth (none when the regions share loopback)."""
        regions = self.platform_state.network.regions
        return {name: RegionLink.from_record(name, net) for name, net in regions.items()}

    def region_link(self, region: str) -> RegionLink | None:
        return self._links().get(region)

    def packet_faults_unavailable(self) -> str | None:
        if not self._links():
            return "the platform's regions share the loopback network (start it with `platform up --netns`, as root)"
        return netfilter.available()

    def _link(self, region: str) -> RegionLink:
        link = self.region_link(region)
        if link is None:
            raise FaultError(f"region {region!r} has no network namespace of its own on this platform")
        return link

    def cut_region(self, table: str, region: str, direction: str, loss_percent: float | None = None) -> None:
        link = self._link(region)
        others = [o for name, o in self._links().items() if name != region]
        netfilter.apply_table(table, regionnet.cut_rules(link, others, direction, loss_percent))

    def cut_counters(self, table: str) -> dict[str, int]:
        return netfilter.counters(table)

    def heal_cut(self, table: str) -> bool:
        return netfilter.delete_table(table)

    def connect_outcome(self, region: str, port: int, source: str, timeout_s: float = 0.5) -> str:
        others = {name: o for name, o in self._links().items() if name != region}
        return regionnet.connect_from(self._link(region), port, source, others, timeout_s)

    def shape_link(self, region: str, rate: str) -> None:
        regionnet.shape(self._link(region), rate)

    def link_stats(self, region: str) -> dict[str, TbfStats | None]:
        return regionnet.link_stats(self._link(region))

    def unshape_link(self, region: str) -> list[str]:
        return regionnet.unshape(self._link(region))

    def route_pod(self, name: str, via: tuple[str, int, int] | None) -> dict[str, Any]:
        """Send the gateway's traffic for pod `name` through (host, http port, grpc port), or direct again."""
        target = {"host": via[0], "http_port": via[1], "grpc_port": via[2]} if via else None
        return self._post("/route", {"pod": name, "via": target})

    def camera_control(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Change the cameras' settings (fps, defect_rate, corrupt_ratio, stalled); return the new ones."""
        urls = self.platform_state.pipeline
        if "cameras" not in urls:
            raise PlatformError("the platform runs no cameras; start it with `resilience platform up --pipeline`")
        return _json_request(
            urls["cameras"] + "/control", settings, 5.0, "the cameras", "cameras /control", PlatformError
        )

    def stage_metrics(self, stage: str) -> dict[str, float]:
        """A pipeline stage's Prometheus samples (labels kept in the names)."""
        urls = self.platform_state.pipeline
        if stage not in urls:
            raise PlatformError(
                f"the platform runs no {stage!r} stage; start it with `resilience platform up --pipeline`"
            )
        try:
            text = httpx.get(urls[stage] + "/metrics", timeout=2.0).text
        except httpx.HTTPError as exc:
            raise PlatformError(f"pipeline stage {stage} at {urls[stage]} did not answer ({exc})") from exc
        return prometheus_samples(text)

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self._get("/status")
        return data

    def model_versions(self) -> list[int]:
        return [int(v) for v in self.status().get("model_versions", [])]

    def pods(self) -> list[Pod]:
        return self._parse_pods(self._get("/pods"), "/pods")

    def pods_with_latency(self) -> list[Pod]:
        """Pods plus each replica's server-side p99 (slower: reads every replica's metrics)."""
        return self._parse_pods(self.status().get("pods"), "/status")

    def _parse_pods(self, items: Any, path: str) -> list[Pod]:
        try:
            return [Pod.from_json(d) for d in items]
        except (ValidationError, TypeError) as exc:
            raise PlatformError(
                f"the platform supervisor at {self.control_url} answered {path} with pods this version does not "
                f"read ({exc}); restart the platform with it (`resilience platform down`, then `up`)"
            ) from None

    def pod(self, name: str) -> Pod | None:
        return next((p for p in self.pods() if p.name == name), None)

    def select(self, role: str | None = None, region: str | None = None, names: list[str] | None = None) -> list[Pod]:
        """Pods matching every given criterion that are running now."""
        return [
            p
            for p in self.pods()
            if p.pid is not None
            and (role is None or p.role == role)
            and (region is None or p.region == region)
            and (names is None or p.name in names)
        ]

    def signal_pod(self, pod: Pod, sig: signal.Signals, missing_ok: bool = False) -> float:
        """Send `sig` to the pod's whole process group (its "container"); return when it was sent."""
        if pod.pid is None:
            raise PlatformError(f"{pod.label} has no running process")
        at = time.time()
        try:
            os.killpg(pod.pid, sig)
        except ProcessLookupError:
            if not missing_ok:
                raise PlatformError(f"{pod.label}: process group {pod.pid} is gone") from None
            return at
        log.info("sent %s to %s (pgid %d)", sig.name, pod.label, pod.pid)
        return at

    def group_states(self, pgid: int) -> dict[int, str]:
        """State letter (R, S, T for stopped, Z...) of every process in the pod's process group."""
        states: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid:
                states[int(entry.name)] = fields[0]
        return states

    def wait_for(
        self, name: str, predicate: Callable[[Pod], bool], timeout_s: float, poll_s: float = 0.05
    ) -> Pod | None:
        """Poll the supervisor until `predicate(pod)` holds; return that pod, or None on timeout."""
        return poll(
            lambda: next((p for p in [self.pod(name)] if p is not None and predicate(p)), None), timeout_s, poll_s
        )

    def compute(self, region: str | None) -> Compute:
        if burner.gpu_present():
            return Compute(gpu=True)
        cpus: set[int] = set()
        for pod in self.select(role="inference", region=region):
            try:
                cpus |= set(psutil.Process(pod.pid).cpu_affinity() or [])
            except (psutil.Error, TypeError):
                continue
        return Compute(gpu=False, cpus=tuple(sorted(cpus)))

    def free_vram_bytes(self, device: int) -> int | None:
        return burner.free_vram_bytes(device)

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
    ) -> burner.BurnerProcess:
        return burner.start_burner(
            utilization,
            duration_s,
            state_file,
            cpus=None if compute.gpu else list(compute.cpus),
            gpu=compute.gpu,
            device=device,
            vram_fraction=vram_fraction,
            log_path=self.state_dir / "logs" / "burner.log",
            timeout_s=timeout_s,
        )

    def start_fault_proxy(self, pod: Pod, mode: str, state_file: Path, **settings: Any) -> faultproxy.ProxyProcess:
        assert pod.http_port is not None and pod.grpc_port is not None
        return faultproxy.start_proxy(
            [(pod.host, pod.http_port), (pod.host, pod.grpc_port)],
            mode,
            state_file,
            log_path=self.state_dir / "logs" / f"faultproxy-{pod.name}.log",
            **settings,
        )

    def exit_of(self, pod: Pod, timeout_s: float) -> PodExit | None:
        died = self.wait_for(pod.name, lambda p: p.last_exit is not None and p.last_exit.pid == pod.pid, timeout_s)
        return died.last_exit if died is not None else None

    def replacement_of(self, pod: Pod, timeout_s: float) -> Pod | None:
        return self.wait_for(pod.name, lambda p: p.ready and p.pid not in (None, pod.pid), timeout_s)


def prometheus_samples(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {`name{label="value",...}`: value}, parsed by prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sample.labels.items())
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


def _json_request(
    url: str, body: dict[str, Any] | None, timeout_s: float, who: str, what: str, refused: type[Exception]
) -> dict[str, Any]:
    """GET (no body) or POST JSON to a platform component; `refused` for its 4xx/5xx answers."""
    try:
        resp = httpx.get(url, timeout=timeout_s) if body is None else httpx.post(url, json=body, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise PlatformError(f"{who} at {url} did not answer ({exc})") from exc
    data: dict[str, Any] = resp.json()
    if resp.status_code >= 400:
        raise refused(f"{what}: {data.get('error', resp.text)}")
    return data
