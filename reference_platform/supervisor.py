"""The supervisor: starts the gateway and the replica pods, probes them, restarts what dies.

Run by `resilience platform up` as a detached process: `python -m reference_platform.supervisor
--state-dir DIR [--config FILE] [--replicas N]`. It writes `DIR/platform.json` (the endpoints) once
everything is ready, and serves a small JSON control API on loopback:

- `GET /pods`     every pod: pid, ready, restarts, last exit (pid, signal, time, reason)
- `GET /status`   platform endpoints and pods
- `GET /metrics`  Prometheus text: restarts by reason, readiness, probe failures
- `POST /shutdown` stop everything and exit

Liveness is a real inference (a replica whose backend stub died still answers /v2/health/ready with
200 while every inference fails); readiness is /v2/models/qc_cnn/ready plus that inference (/v2/health/ready says 200 before
PyTriton has loaded the model).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from reference_platform import gateway, probes
from reference_platform.autoscaler import Autoscaler
from reference_platform.config import ConfigError, PlatformConfig, load_config
from reference_platform.control_api import handler
from reference_platform.model import MODEL_NAME
from reference_platform.model.repository import ModelRepository
from reference_platform.pods import (
    ExitRecord,
    ReplicaPod,
    child_env,
    clean_workspace,
    free_port,
    reap_group,
    stop_group,
    wait_ports_closed,
)
from reference_platform.resources import PodResources
from reference_platform.rollout import BlueGreenController, CanaryController, CanaryPolicy, ShadowController
from reference_platform.spares import SpareKeeper

log = logging.getLogger("reference_platform.supervisor")
STATE_FILE = "platform.json"


class Supervisor:
    def __init__(self, config: PlatformConfig, state_dir: Path) -> None:
        self.config = config
        self.state_dir = state_dir
        self.platform_id = uuid.uuid4().hex[:12]
        self.work_dir = state_dir / "work"
        self.log_dir = state_dir / "logs"
        self.socket_path = state_dir / "haproxy.sock"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.started_at = time.time()
        self.pods = [
            ReplicaPod.replica(
                f"{region}-{i}",
                region,
                model_version=config.serving.model_version,
            )
            for region in config.regions
            for i in range(config.replicas)
        ]
        extra = config.autoscaler.max_replicas - config.replicas if config.autoscaler.enabled else 0
        self.scale_slots = [
            ReplicaPod.replica(
                f"{region}-{i}",
                region,
                model_version=config.serving.model_version,
                retired=True,
            )
            for region in config.regions
            for i in range(config.replicas, config.replicas + extra)
        ]
        self.autoscaler = Autoscaler(self, config.autoscaler) if config.autoscaler.enabled else None
        self.spares = SpareKeeper(self, config.serving.warm_spares) if config.serving.warm_spares else None
        self.initial_pods = [p for p in self.pods if p.role == "inference"]
        self.shadow_slot = ReplicaPod.replica(
            "shadow",
            config.regions[0],
            variant="shadow",
            retired=True,
        )
        # blue-green: a second set of stable slots; a deployment fills whichever set is not serving
        self.green_slots = [
            ReplicaPod.replica(
                f"{p.name}-next",
                p.region,
                retired=True,
            )
            for p in self.pods
        ]
        self.canary_slots = [
            ReplicaPod.replica(
                f"{region}-canary",
                region,
                variant="canary",
                retired=True,
            )
            for region in config.regions
        ]
        self.gateway_http = config.gateway_http_port or free_port()
        self.stage_urls: dict[str, str] = {}
        if config.pipeline.enabled:
            self.pods += self._pipeline_pods()
        self.threads: dict[str, threading.Thread] = {}
        self.rollout: CanaryController | None = None
        self.repository = config.serving.repository
        self.gateway_grpc = config.gateway_grpc_port or free_port()
        self.gateway_stats = free_port()
        self.haproxy: subprocess.Popen[bytes] | None = None
        self.probe_body = probes.probe_body()
        self.registry = CollectorRegistry()
        self.m_restarts = Counter(
            "supervisor_pod_restarts", "Pod restarts by reason", ["pod", "reason"], registry=self.registry
        )
        self.m_ready = Gauge("supervisor_pod_ready", "1 when the pod is ready", ["pod"], registry=self.registry)
        self.registry.register(PodResources(lambda: list(self.pods)))
        self.m_probe_fail = Counter(
            "supervisor_probe_failures", "Failed probes", ["pod", "probe"], registry=self.registry
        )
        s = config.serving
        self.serving_args = [
            "--max-batch-size",
            str(s.max_batch_size),
            "--queue-delay-us",
            str(s.queue_delay_us),
            "--threads",
            str(s.threads),
        ]

    def _pipeline_pods(self) -> list[ReplicaPod]:
        """cameras -> preprocess -> sink, each a pod probed on its /healthz."""
        pc = self.config.pipeline
        frames, results = free_port(), free_port()
        ports = {stage: free_port() for stage in ("cameras", "preprocess", "sink")}
        self.stage_urls = {stage: f"http://127.0.0.1:{port}" for stage, port in ports.items()}
        commands = {
            "sink": [
                "sink",
                "--in-port",
                str(results),
                "--reference",
                str(pc.drift_reference),
                "--window",
                str(pc.drift_window),
            ],
            "preprocess": [
                "preprocess",
                "--in-port",
                str(frames),
                "--out",
                f"tcp://127.0.0.1:{results}",
                "--gateway",
                f"127.0.0.1:{self.gateway_http}",
                "--workers",
                str(pc.workers),
            ],
            "cameras": [
                "cameras",
                "--out",
                f"tcp://127.0.0.1:{frames}",
                "--cameras",
                str(pc.cameras),
                "--fps",
                str(pc.fps),
                "--defect-rate",
                str(pc.defect_rate),
            ],
        }
        return [
            ReplicaPod(
                name=stage,
                region=self.config.regions[0],
                http_port=0,
                grpc_port=0,
                metrics_port=ports[stage],
                role=stage,
                command=[*commands[stage], "--port", str(ports[stage])],
            )
            for stage in ("sink", "preprocess", "cameras")
        ]

    # -- lifecycle ---------------------------------------------------------------------------
    def start_gateway(self) -> None:
        cfg = self.state_dir / "haproxy.cfg"
        cfg.write_text(
            gateway.render_config(
                http_port=self.gateway_http,
                grpc_port=self.gateway_grpc,
                stats_port=self.gateway_stats,
                socket_path=self.socket_path,
                backends=[
                    gateway.Backend(
                        p.name,
                        p.region,
                        p.http_port,
                        p.grpc_port,
                        canary=p.variant == "canary",
                        disabled=p in self.scale_slots or p in self.green_slots,
                    )
                    for p in self.pods + self.scale_slots + self.green_slots + self.canary_slots
                    if p.role == "inference"
                ],
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
        self.start_gateway()
        for pod in list(self.pods):
            self._launch(pod)
        if self.autoscaler is not None:
            self.autoscaler.start()
        if self.spares is not None:
            self.spares.start()
        state = {
            "supervisor_pid": _os_getpid(),
            "platform_id": self.platform_id,
            "control_url": f"http://127.0.0.1:{server.server_address[1]}",
            "gateway": {
                "http": f"127.0.0.1:{self.gateway_http}",
                "grpc": f"127.0.0.1:{self.gateway_grpc}",
                "metrics": f"http://127.0.0.1:{self.gateway_stats}/metrics",
            },
            "model": MODEL_NAME,
            "pipeline": self.stage_urls,
            "state_dir": str(self.state_dir),
            "started_at": self.started_at,
        }
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_dir / STATE_FILE)
        self.stopping.wait()
        if self.rollout is not None:
            self.rollout.stop.set()
        for t in list(self.threads.values()):
            t.join()
        if self.spares is not None:
            self.spares.thread.join(timeout=15)
            self.spares.stop_all()
        self.shutdown_all()
        server.shutdown()

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
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)

    # -- adding, removing and restarting pods at run time (rollouts) ---------------------------------
    def _launch(self, pod: ReplicaPod) -> None:
        pod.start(self.work_dir, self.log_dir, self.platform_id, self.serving_args, self.repository)
        thread = threading.Thread(target=self.control_loop, args=(pod,), name=pod.name)
        self.threads[pod.name] = thread
        thread.start()

    def add_pod(self, pod: ReplicaPod) -> None:
        with self.lock:
            pod.retired, pod.ready, pod.ready_at = False, False, None
            if pod not in self.pods:
                self.pods.append(pod)
        self._launch(pod)

    def pods_and_slots(self) -> list[ReplicaPod]:
        """Every pod the gateway knows: running ones and idle slots (scaling, blue-green, canary)."""
        seen = list(self.pods)
        for p in self.scale_slots + self.green_slots + self.canary_slots + self.initial_pods:
            if p not in seen:
                seen.append(p)
        return seen

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
        self._set_ready(pod, False)
        with self.lock:
            pod.model_version, pod.planned_restart = version, reason
        if pod.proc is not None and pod.proc.poll() is None:
            pod.proc.send_signal(signal.SIGTERM)
        deadline = time.time() + timeout_s
        while not (pod.ready and pod.pid not in (None, old)):
            if time.time() > deadline or self.stopping.is_set():
                raise RuntimeError(f"{pod.name} was not ready on v{version} within {timeout_s:.0f} s")
            time.sleep(0.1)

    # -- one controller per pod ------------------------------------------------------------------
    def control_loop(self, pod: ReplicaPod) -> None:
        """Watch one pod until it is retired or the platform stops; a bug here must not orphan the pod."""
        while not self.stopping.is_set() and not pod.retired:
            try:
                self._control(pod)
            except Exception:
                log.exception("%s: controller error; resuming", pod.name)
                self.stopping.wait(1.0)

    def _control(self, pod: ReplicaPod) -> None:
        period = self.config.probes.period_s
        next_probe = 0.0
        live_failures = 0
        restart_at: float | None = None
        while not self.stopping.is_set() and not pod.retired:
            proc = pod.proc
            if restart_at is not None:
                if time.time() >= restart_at:
                    self._relaunch(pod)
                    restart_at, live_failures, next_probe = None, 0, 0.0
                else:
                    self.stopping.wait(0.05)
                continue
            assert proc is not None
            try:
                rc = proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                rc = None
            if rc is not None:
                reason = f"exited: signal {-rc}" if rc < 0 else f"exited: code {rc}"
                restart_at = self._handle_exit(pod, ExitRecord(proc.pid, rc, time.time(), reason))
                continue
            now = time.monotonic()
            if now < next_probe:
                continue
            next_probe = now + period
            live, ready = self._probe(pod)
            self._set_ready(pod, live and ready)
            started = pod.ready_at is not None and pod.started_at is not None and pod.ready_at >= pod.started_at
            reason = None
            if pod.crash_loop and pod.ready and time.time() - pod.restart_times[-1] > self.config.backoff.reset_after_s:
                with self.lock:
                    pod.crash_loop = False
            if not started:  # a startup probe: liveness counts only once the replica has been ready
                if time.time() - (pod.started_at or 0) > self.config.probes.startup_timeout_s:
                    reason = f"not ready within {self.config.probes.startup_timeout_s:.0f} s of start"
            elif live:
                live_failures = 0
            else:
                live_failures += 1
                self.m_probe_fail.labels(pod.name, "liveness").inc()
                if live_failures >= self.config.probes.failure_threshold:
                    reason = f"liveness probe failed {live_failures} times"
            if reason is not None:
                log.warning("%s: %s; killing it", pod.name, reason)
                pgid = proc.pid
                reap_group(pgid, timeout_s=5)
                rc = proc.wait()
                restart_at = self._handle_exit(pod, ExitRecord(pgid, rc, time.time(), reason))

    def _handle_exit(self, pod: ReplicaPod, record: ExitRecord) -> float:
        """Record how the pod died, remove every trace of it, and return when to restart it."""
        self._set_ready(pod, False)
        assert pod.proc is not None
        reap_group(pod.proc.pid, timeout_s=5)
        clean_workspace(pod)
        wait_ports_closed([p for p in (pod.http_port, pod.grpc_port, pod.metrics_port) if p], timeout_s=10)
        if pod.retired:
            return time.time()
        if pod.planned_restart:  # a rollout restarting it on purpose: no backoff, not a failure
            with self.lock:
                pod.last_exit = ExitRecord(record.pid, record.returncode, record.at, pod.planned_restart)
                pod.planned_restart = None
            self.m_restarts.labels(pod.name, "rollout").inc()
            return time.time()
        now = time.time()
        b = self.config.backoff
        pod.restart_times = [t for t in pod.restart_times if now - t < b.reset_after_s] + [now]
        recent = len(pod.restart_times)
        delay = 0.0 if recent <= 1 else min(b.max_s, b.initial_s * 2 ** (recent - 2))
        with self.lock:
            pod.last_exit = record
            pod.crash_loop = recent >= b.crash_loop_restarts
        self.m_restarts.labels(pod.name, record.reason.split(":")[0].split(" ")[0]).inc()
        log.warning(
            "%s pid %d %s; restart in %.1f s%s",
            pod.name,
            record.pid,
            record.reason,
            delay,
            " (crash loop)" if pod.crash_loop else "",
        )
        return now + delay

    def _relaunch(self, pod: ReplicaPod) -> None:
        spare = None
        if self.spares is not None and pod.role == "inference" and pod.variant == "stable":
            spare = self.spares.take(pod.region, pod.model_version)
        with self.lock:
            pod.restarts += 1
            if spare is None:
                pod.start(self.work_dir, self.log_dir, self.platform_id, self.serving_args, self.repository)
                return
            pod.adopt(spare)
        try:
            gateway.repoint(self.socket_path, pod.name, pod.region, pod.http_port, pod.grpc_port, self.config.regions)
        except OSError as exc:
            log.warning("gateway runtime API: %s", exc)
        log.info("%s: warm spare %s (pid %s) took over", pod.name, spare.name, pod.pid)

    def _set_ready(self, pod: ReplicaPod, ready: bool) -> None:
        if ready == pod.ready:
            return
        with self.lock:
            pod.ready = ready
            if ready:
                pod.ready_at = time.time()
        self.m_ready.labels(pod.name).set(1 if ready else 0)
        if pod.role != "inference" or pod.variant == "shadow":  # not behind the gateway
            log.info("%s %s", pod.name, "ready" if ready else "not ready")
            return
        if ready and not pod.in_rotation:
            log.info("%s ready (out of rotation)", pod.name)
            return
        try:
            gateway.set_server_state(self.socket_path, pod.name, "ready" if ready else "maint", self.config.regions)
        except OSError as exc:
            log.warning("gateway runtime API: %s", exc)
        log.info("%s %s", pod.name, "ready" if ready else "not ready")

    def _probe(self, pod: ReplicaPod) -> tuple[bool, bool]:
        return probes.probe(pod, self.config.probes.timeout_s, self.probe_body)

    def start_rollout(self, request: dict[str, Any]) -> dict[str, Any]:
        active = ("starting", "progressing", "promoting", "switched")
        if self.rollout is not None and self.rollout.rollout.state in active:
            raise ValueError(f"a rollout is already {self.rollout.rollout.state}; promote or abort it first")
        request = dict(request)
        strategy = request.pop("strategy", "canary")
        policy = CanaryPolicy(**request)
        if not 1 <= policy.weight <= 50:
            raise ValueError(f"weight: {policy.weight} is outside 1-50 (percent of each region's traffic)")
        (ModelRepository(self.repository) if self.repository else ModelRepository()).path(policy.version)
        if strategy == "blue-green":
            if self.autoscaler is not None:
                raise ValueError("blue-green needs a fixed replica count: turn the autoscaler off")
            self.rollout = BlueGreenController(self, policy)
        elif strategy == "canary":
            self.rollout = CanaryController(self, policy)
        elif strategy == "shadow":
            if "preprocess" not in self.stage_urls:
                raise ValueError("shadow mirrors the pipeline's frames: start the platform with --pipeline")
            self.rollout = ShadowController(self, policy)
        else:
            raise ValueError(f"strategy: {strategy!r} is not one of canary, blue-green, shadow")
        self.rollout.start()
        return self.rollout.rollout.to_json()

    def status(self) -> dict[str, object]:
        with self.lock:
            pods = [p.to_json() for p in self.pods]
        for pod in pods:
            if pod["role"] == "inference" and pod["ready"]:
                pod["server_p99_ms"] = probes.triton_p99_ms(int(str(pod["metrics_port"])))
        return {
            "autoscaler": self.autoscaler.events if self.autoscaler else None,
            "spares": self.spares.status() if self.spares else [],
            "regions": self.config.regions,
            "platform_id": self.platform_id,
            "started_at": self.started_at,
            "pods": pods,
            "gateway": {
                "http_port": self.gateway_http,
                "grpc_port": self.gateway_grpc,
                "stats_port": self.gateway_stats,
            },
        }


def _os_getpid() -> int:
    import os

    return os.getpid()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="reference_platform.supervisor", description=__doc__.splitlines()[0])
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--config", type=Path)
    p.add_argument("--replicas", type=int, help="inference replicas per region")
    p.add_argument("--regions", type=int, help="number of regions (named a, b, c ...)")
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--pipeline", action="store_true", help="also run cameras -> preprocessing -> sink")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    try:
        regions = [chr(ord("a") + i) for i in range(args.regions)] if args.regions else None
        config = load_config(args.config, replicas=args.replicas, regions=regions)
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
