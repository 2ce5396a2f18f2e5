"""The supervisor: starts the gateway and the replica pods, probes them, restarts what dies.

Run by `resilience platform up` as a detached process: `python -m reference_platform.supervisor
--state-dir DIR [--config FILE] [--replicas N]`. It writes `DIR/platform.json` (the endpoints: a
`contracts.PlatformState`, see `statefile`) once everything is ready, and serves a small JSON control API
on loopback (the pods it makes are laid out in `topology`):

- `GET /pods`     every pod (`contracts.PodRecord`): pid, ready, restarts, last exit (pid, signal, time, reason)
- `GET /status`   platform endpoints and pods (`contracts.StatusPodRecord`: with each ready replica's p99)
- `GET /metrics`  Prometheus text: restarts by reason, readiness, probe failures
- `POST /shutdown` stop everything and exit

Liveness is a real inference (a replica whose backend stub died still answers /v2/health/ready with
200 while every inference fails); readiness is /v2/models/qc_cnn/ready plus that inference.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from reference_platform import gateway, netns, probes, statefile, topology
from reference_platform.autoscaler import Autoscaler
from reference_platform.config import ConfigError, PlatformConfig, load_config
from reference_platform.contracts import (
    GATEWAY_SOCKET,
    ROLLOUT_ACTIVE,
    STATE_FILE,
    PlatformShape,
    PlatformState,
    PodRecord,
    StatusPodRecord,
)
from reference_platform.control_api import handler
from reference_platform.controller import PodController, PodMetrics
from reference_platform.model import MODEL_NAME
from reference_platform.model.repository import ModelRepository
from reference_platform.pods import Launcher, ReplicaPod, child_env, clean_workspace, stop_group, work_root
from reference_platform.resources import PodResources
from reference_platform.rollout import (
    BlueGreenController,
    CanaryController,
    CanaryPolicy,
    RolloutController,
    ShadowController,
)
from reference_platform.spares import SpareKeeper

log = logging.getLogger("reference_platform.supervisor")


class Supervisor:
    """The platform's control plane; its collaborators see it only as a `Fleet` (autoscaler, rollouts) or a
    `ControlPlane` (the control API), and get the rest (launcher, gateway runtime API, lock) handed in."""

    def __init__(self, config: PlatformConfig, state_dir: Path) -> None:
        self.config = config
        self.state_dir = state_dir
        self.platform_id = uuid.uuid4().hex[:12]
        # Replicas' workspaces hold Unix sockets (107-byte path limit): keep them short, not under a long state dir
        self.work_dir = work_root(self.platform_id)
        self.log_dir = state_dir / "logs"
        self.socket_path = state_dir / GATEWAY_SOCKET
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.started_at = time.time()
        self.repository = config.serving.repository
        self.launcher = Launcher(
            self.work_dir, self.log_dir, self.platform_id, topology.serving_args(config.serving), self.repository
        )
        self.gateway_api = gateway.RuntimeAPI(self.socket_path, tuple(config.regions))
        self.probe_body = probes.probe_body()
        self.gateway_http = config.gateway_http_port or self.launcher.port()
        self.layout = topology.plan(config, self.launcher, self.gateway_http)
        # the pods running now (the Fleet's): the autoscaler and the rollouts add slots to it and remove them
        self.pods = list(self.layout.pods)
        self.stage_urls = self.layout.stage_urls
        self.gateway_grpc = config.gateway_grpc_port or self.launcher.port()
        self.gateway_stats = self.launcher.port()
        self.threads: dict[str, threading.Thread] = {}
        self.rollout: RolloutController | None = None
        self.haproxy: subprocess.Popen[bytes] | None = None
        self.registry = CollectorRegistry()
        self.registry.register(PodResources(lambda: list(self.pods)))
        self.autoscaler = (
            Autoscaler(self, self.gateway_api, config.autoscaler, self.layout.scale_slots, self.stopping)
            if config.autoscaler.enabled
            else None
        )
        self.spares = (
            SpareKeeper(
                config.serving.warm_spares,
                regions=config.regions,
                model_version=config.serving.model_version,
                launcher=self.launcher,
                probe_body=self.probe_body,
                stopping=self.stopping,
            )
            if config.serving.warm_spares
            else None
        )
        self.controller = PodController(
            launcher=self.launcher,
            gateway=self.gateway_api,
            probing=config.probes,
            backoff=config.backoff,
            probe_body=self.probe_body,
            metrics=pod_metrics(self.registry),
            lock=self.lock,
            stopping=self.stopping,
            take_spare=self.spares.take if self.spares is not None else None,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start_gateway(self) -> None:
        cfg = self.state_dir / "haproxy.cfg"
        cfg.write_text(
            gateway.render_config(
                http_port=self.gateway_http,
                grpc_port=self.gateway_grpc,
                stats_port=self.gateway_stats,
                socket_path=self.socket_path,
                backends=self.layout.backends(),
                regions=self.config.regions,
            )
        )
        logf = open(self.log_dir / "haproxy.log", "ab")  # noqa: SIM115 - the child owns it
        self.haproxy = subprocess.Popen(
            [gateway.haproxy_binary(), "-db", "-f", str(cfg)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=child_env(self.platform_id),
            start_new_session=True,
        )
        logf.close()

    def run(self, control_port: int) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        server = ThreadingHTTPServer(("127.0.0.1", control_port), handler(self))
        threading.Thread(target=server.serve_forever, daemon=True, name="control-api").start()
        if self.config.network.namespaces:
            self.launcher.networks.update({n.region: n for n in netns.create(self.platform_id, self.config.regions)})
        self.start_gateway()
        for pod in list(self.pods):
            self._launch(pod)
        if self.autoscaler is not None:
            self.autoscaler.start()
        if self.spares is not None:
            self.spares.start()
        statefile.write(self.state_dir, self.state(server.server_address[1]))
        while not self.stopping.wait(2.0):
            if not (self.state_dir / STATE_FILE).exists():  # nobody can reach or stop this platform any more
                log.error("%s was removed: stopping the platform", self.state_dir / STATE_FILE)
                self.stopping.set()
        if self.rollout is not None:
            self.rollout.stop.set()
        for t in list(self.threads.values()):
            t.join()
        if self.spares is not None:
            self.spares.thread.join(timeout=15)
            self.spares.stop_all()
        self.shutdown_all()
        server.shutdown()

    def state(self, control_port: int) -> PlatformState:
        """What the state file records once every pod was started and the control API listens on `control_port`."""
        return PlatformState(
            supervisor_pid=os.getpid(),
            platform_id=self.platform_id,
            control_url=f"http://127.0.0.1:{control_port}",
            gateway=statefile.gateway_endpoints(self.gateway_http, self.gateway_grpc, self.gateway_stats),
            model=MODEL_NAME,
            pipeline=self.stage_urls,
            network=statefile.network_state(self.launcher.networks),
            state_dir=str(self.state_dir),
            started_at=self.started_at,
            shape=PlatformShape(
                regions=len(self.config.regions),
                replicas=self.config.replicas,
                pipeline=bool(self.stage_urls),
                netns=bool(self.launcher.networks),
            ),
        )

    def shutdown_all(self) -> None:
        """Stop every pod at once (SIGTERM, grace, then SIGKILL of the group), then the gateway."""
        for pod in self.pods:
            if pod.proc is not None and pod.proc.poll() is None:
                pod.proc.send_signal(signal.SIGTERM)
        for pod in self.pods:
            if pod.proc is not None:
                rc = stop_group(pod.proc, grace_s=8)
                log.info("stopped %s (pid %d, rc %d)", pod.name, pod.proc.pid, rc)
                clean_workspace(pod)
        if self.haproxy is not None:
            stop_group(self.haproxy, grace_s=3)
        self.socket_path.unlink(missing_ok=True)
        shutil.rmtree(self.work_dir, ignore_errors=True)
        netns.delete(list(self.launcher.networks.values()))
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)

    # -- adding, removing and restarting pods at run time (rollouts) ---------------------------------
    def _launch(self, pod: ReplicaPod) -> None:
        self.launcher.start(pod)
        thread = threading.Thread(target=self.controller.run, args=(pod,), name=pod.name)
        self.threads[pod.name] = thread
        thread.start()

    def add_pod(self, pod: ReplicaPod) -> None:
        with self.lock:
            pod.retired, pod.ready, pod.ready_at = False, False, None
            if pod not in self.pods:
                self.pods.append(pod)
        self._launch(pod)

    def remove_pod(self, pod: ReplicaPod) -> None:
        """Stop a pod for good: its controller ends, its process group is stopped and cleaned up."""
        pod.retired = True
        thread = self.threads.pop(pod.name, None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        if pod.proc is not None:
            stop_group(pod.proc, grace_s=8)
            clean_workspace(pod)
        with self.lock:
            pod.ready = False
            if pod in self.pods:
                self.pods.remove(pod)

    def restart_pod(self, pod: ReplicaPod, version: int, reason: str, timeout_s: float = 120.0) -> None:
        """Drain the pod in the gateway, restart it on `version`, and wait until it is ready again."""
        old = pod.proc.pid if pod.proc else None
        self.controller.set_ready(pod, False)
        with self.lock:
            pod.model_version, pod.planned_restart = version, reason
        if pod.proc is not None and pod.proc.poll() is None:
            pod.proc.send_signal(signal.SIGTERM)
        deadline = time.time() + timeout_s
        while not (pod.ready and pod.pid not in (None, old)):
            if time.time() > deadline or self.stopping.is_set():
                raise RuntimeError(f"{pod.name} was not ready on v{version} within {timeout_s:.0f} s")
            time.sleep(0.1)

    def start_rollout(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.rollout is not None and self.rollout.rollout.state in ROLLOUT_ACTIVE:
            raise ValueError(f"a rollout is already {self.rollout.rollout.state}; promote or abort it first")
        request = dict(request)
        strategy = request.pop("strategy", "canary")
        policy = CanaryPolicy(**request)
        if not 1 <= policy.weight <= 50:
            raise ValueError(f"weight: {policy.weight} is outside 1-50 (percent of each region's traffic)")
        try:
            self.models().path(policy.version)
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"{exc}: build a degraded version with `python -m reference_platform.model.degrade --repository DIR` "
                "and start the platform with `serving: {repository: DIR}` (docs/faults.md#bad-canary)"
            ) from exc
        if strategy == "blue-green":
            if self.autoscaler is not None:
                raise ValueError("blue-green needs a fixed replica count: turn the autoscaler off")
            # green boots in whichever stable set is idle: the spare slots, or the first pods after a switch
            rollout: RolloutController = BlueGreenController(
                self, self.gateway_api, policy, self.layout.green_slots + self.layout.replicas
            )
        elif strategy == "canary":
            rollout = CanaryController(self, self.gateway_api, policy, self.layout.canary_slots)
        elif strategy == "shadow":
            if "preprocess" not in self.stage_urls:
                raise ValueError("shadow mirrors the pipeline's frames: start the platform with --pipeline")
            rollout = ShadowController(self, policy, self.layout.shadow_slot, self.stage_urls["preprocess"])
        else:
            raise ValueError(f"strategy: {strategy!r} is not one of canary, blue-green, shadow")
        self.rollout = rollout
        rollout.start()
        return rollout.rollout.to_json()

    def route(self, request: dict[str, Any]) -> dict[str, Any]:
        """Point the gateway's entries for a pod through `via` (a fault proxy's ports), or back with `via: null`."""
        pod = next((p for p in self.pods if p.name == request.get("pod") and p.role == "inference"), None)
        if pod is None:
            raise ValueError(f"pod: no inference pod named {request.get('pod')!r}")
        via = request.get("via")
        host, http_port, grpc_port = (
            (str(via["host"]), int(via["http_port"]), int(via["grpc_port"]))
            if via
            else (pod.host, pod.http_port, pod.grpc_port)
        )
        self.gateway_api.repoint(pod.name, host, http_port, grpc_port)
        log.info("gateway routes %s via %s:%d/%d", pod.name, host, http_port, grpc_port)
        return {"pod": pod.name, "host": host, "http_port": http_port, "grpc_port": grpc_port, "direct": via is None}

    def models(self) -> ModelRepository:
        """The model repository the replicas serve from (rollouts pick their versions here)."""
        return ModelRepository(self.repository) if self.repository else ModelRepository()

    def pod_list(self) -> list[PodRecord]:
        """Every pod as the supervisor knows it, at once: no replica is asked anything (fault verification polls
        this every 50 ms; a replica busy under a fault must not slow the answer down)."""
        with self.lock:
            return [p.record() for p in self.pods]

    def status(self) -> dict[str, object]:
        with self.lock:
            objs = list(self.pods)
            records = [p.record() for p in objs]
        pods = [
            # a ready replica's p99 is read from its /metrics (slow under a fault: hence not in pod_list)
            StatusPodRecord(**dict(rec), server_p99_ms=probes.triton_p99_ms(obj))
            if obj.role == "inference" and obj.ready
            else StatusPodRecord(**dict(rec))
            for obj, rec in zip(objs, records, strict=True)
        ]
        return {
            "autoscaler": self.autoscaler.events if self.autoscaler else None,
            "spares": self.spares.status() if self.spares else [],
            "regions": self.config.regions,
            "model_versions": self.models().versions(),
            "platform_id": self.platform_id,
            "started_at": self.started_at,
            "pods": [p.model_dump(mode="json") for p in pods],
            "gateway": {
                "http_port": self.gateway_http,
                "grpc_port": self.gateway_grpc,
                "stats_port": self.gateway_stats,
            },
        }


def pod_metrics(registry: CollectorRegistry) -> PodMetrics:
    """The pod controllers' Prometheus metrics: restarts by reason, readiness, probe failures."""
    return PodMetrics(
        Counter("supervisor_pod_restarts", "Pod restarts by reason", ["pod", "reason"], registry=registry),
        Gauge("supervisor_pod_ready", "1 when the pod is ready", ["pod"], registry=registry),
        Counter("supervisor_probe_failures", "Failed probes", ["pod", "probe"], registry=registry),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="reference_platform.supervisor", description=__doc__.splitlines()[0])
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--config", type=Path)
    p.add_argument("--replicas", type=int, help="inference replicas per region")
    p.add_argument("--regions", type=int, help="number of regions (named a, b, c ...)")
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--pipeline", action="store_true", help="also run cameras -> preprocessing -> sink")
    p.add_argument("--netns", action="store_true", help="each region in its own network namespace (root)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    try:
        regions = [chr(ord("a") + i) for i in range(args.regions)] if args.regions else None
        config = load_config(
            args.config, replicas=args.replicas, regions=regions, network={"namespaces": True} if args.netns else None
        )
        if args.pipeline:
            config = config.model_copy(update={"pipeline": config.pipeline.model_copy(update={"enabled": True})})
        ModelRepository().path(config.serving.model_version)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except FileNotFoundError as exc:
        log.error("%s: serving.model_version: %s; train and register one or pick an existing version", args.config, exc)
        return 2
    args.state_dir.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(config, args.state_dir.resolve())
    signal.signal(signal.SIGTERM, lambda *_: sup.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: sup.stopping.set())
    sup.run(args.control_port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
