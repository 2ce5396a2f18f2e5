"""Pods: each one a process group started by the supervisor, killed and cleaned up as a whole.

A replica is tritonserver (the pod's main process: `reference_platform.replica` execs it) and its
python-backend stub. Each pod runs in its own session, so its process group is the local stand-in for a
container's cgroup: a kill takes the whole group, and nothing of it survives a restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_platform.contracts import PLATFORM_ID_ENV as PLATFORM_ID_ENV
from reference_platform.contracts import SHM_PREFIX, WORKSPACE_PREFIX, PodExitRecord, PodRecord
from reference_platform.netns import RegionNet, exec_prefix

log = logging.getLogger(__name__)


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(exclude: Container[int] = frozenset()) -> int:
    """A free port for a server, below the kernel's ephemeral range, and not one of `exclude`.

    Ports the kernel hands out for port 0 come from the ephemeral range, which outgoing connections
    also draw their local ports from: a port reserved that way for a replica started later (a canary,
    an autoscaled replica) can be taken by some client socket in between ("Address already in use").
    `exclude` is for ports already handed out but not bound yet (see `Launcher.port`).
    """
    top = _ephemeral_start()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, top - 12000), top)
        if port in exclude:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise OSError(f"no free port found below {top}")


def work_root(platform_id: str) -> Path:
    """Where a platform's replicas keep their workspaces: short, because they hold Unix sockets."""
    return Path(tempfile.gettempdir()) / f"{WORKSPACE_PREFIX}{platform_id[:12]}"


def port_open(port: int, timeout_s: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def child_env(platform_id: str) -> dict[str, str]:
    """The environment of a pod: ours plus the platform id (a replica adds what tritonserver needs itself)."""
    env = dict(os.environ)
    env[PLATFORM_ID_ENV] = platform_id
    return env


@dataclass(frozen=True, slots=True)
class ExitRecord:
    """How a pod's process ended, as its parent saw it through waitpid."""

    pid: int
    returncode: int
    at: float
    reason: str

    @property
    def signal_name(self) -> str | None:
        return signal.Signals(-self.returncode).name if self.returncode < 0 else None

    def record(self) -> PodExitRecord:
        """The exit as the control API serves it (a pod's `last_exit`)."""
        return PodExitRecord(
            pid=self.pid, returncode=self.returncode, signal=self.signal_name, at=self.at, reason=self.reason
        )

    def to_json(self) -> dict[str, object]:
        return self.record().model_dump(mode="json")


@dataclass(slots=True)
class ReplicaPod:
    """One inference replica and its lifecycle bookkeeping (mutated only by its controller thread)."""

    name: str
    region: str
    http_port: int
    grpc_port: int
    metrics_port: int
    role: str = "inference"
    proc: subprocess.Popen[bytes] | None = None
    incarnation: int = 0
    started_at: float | None = None
    ready_at: float | None = None
    ready: bool = False
    restarts: int = 0
    crash_loop: bool = False
    last_exit: ExitRecord | None = None
    restart_times: list[float] = field(default_factory=list)
    workspace: Path | None = None
    model_version: int = 1
    variant: str = "stable"
    """`stable`, or `canary` for a rollout's canary pod."""
    retired: bool = False
    """Set when the pod is removed for good (canary rolled back or promoted): its controller stops."""
    planned_restart: str | None = None
    """Why the supervisor itself is restarting this pod (a rollout), so the exit is not a failure."""
    warm_starts: int = 0
    """Restarts that took over a warm spare instead of booting."""
    in_rotation: bool = True
    """False while a blue-green "green" pod is ready but must not take traffic before the switch."""
    command: list[str] = field(default_factory=list)
    """For pipeline stages: arguments to `python -m reference_platform.pipeline` (replicas leave it empty)."""
    networks: Mapping[str, RegionNet] = field(default_factory=dict, repr=False, compare=False)
    """The platform's regions that live in their own network namespace (none by default): the mapping its
    `Launcher` shares with every pod it makes, filled once when the supervisor creates the namespaces."""

    @property
    def net(self) -> RegionNet | None:
        return self.networks.get(self.region) if self.role == "inference" else None

    @property
    def host(self) -> str:
        """Where the replica's ports are reached: loopback, or its region namespace's address."""
        return self.net.pod_ip if self.net else "127.0.0.1"

    @property
    def probe_source(self) -> tuple[str, int] | None:
        """Source address of the supervisor's probes ("the kubelet", which a partition spares)."""
        return (self.net.control_ip, 0) if self.net else None

    def connect(self, port: int, timeout: float) -> Any:
        """An `http.client.HTTPConnection` to one of the pod's ports, from the control-plane address."""
        import http.client

        return http.client.HTTPConnection(self.host, port, timeout=timeout, source_address=self.probe_source)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    def start(
        self, work_dir: Path, log_dir: Path, platform_id: str, serving_args: list[str], repository: Path | None = None
    ) -> None:
        self.incarnation += 1
        self.workspace = work_dir / f"{self.name}-{self.incarnation}"
        shutil.rmtree(self.workspace, ignore_errors=True)
        cmd = (
            [sys.executable, "-m", "reference_platform.pipeline", *self.command]
            if self.command
            else [
                sys.executable,
                "-m",
                "reference_platform.replica",
                "--name",
                self.name,
                "--http-port",
                str(self.http_port),
                "--grpc-port",
                str(self.grpc_port),
                "--metrics-port",
                str(self.metrics_port),
                "--address",
                "0.0.0.0" if self.net else "127.0.0.1",
                "--workspace",
                str(self.workspace),
                "--model-version",
                str(self.model_version),
                *(["--repository", str(repository)] if repository else []),
                *serving_args,
            ]
        )
        logf = open(log_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            exec_prefix(self.net) + cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(platform_id),
            start_new_session=True,
        )
        logf.close()
        self.started_at, self.ready_at, self.ready = time.time(), None, False
        log.info("started %s pid %d (incarnation %d)", self.name, self.proc.pid, self.incarnation)

    def adopt(self, spare: ReplicaPod) -> None:
        """Take over a booted spare's process, ports and workspace (a warm restart)."""
        self.proc, self.workspace = spare.proc, spare.workspace
        self.http_port, self.grpc_port, self.metrics_port = spare.http_port, spare.grpc_port, spare.metrics_port
        self.incarnation += 1
        self.started_at, self.ready_at, self.ready = time.time(), None, False
        self.warm_starts += 1

    def record(self) -> PodRecord:
        """The pod as the control API serves it (an item of `GET /pods`): read from this object only."""
        return PodRecord(
            name=self.name,
            role=self.role,
            region=self.region,
            pid=self.pid,
            ready=self.ready,
            started_at=self.started_at,
            ready_at=self.ready_at,
            restarts=self.restarts,
            warm_starts=self.warm_starts,
            crash_loop=self.crash_loop,
            incarnation=self.incarnation,
            model_version=self.model_version if self.role == "inference" else None,
            variant=self.variant,
            http_port=self.http_port,
            grpc_port=self.grpc_port,
            metrics_port=self.metrics_port,
            host=self.host,
            netns=self.net.netns if self.net else None,
            last_exit=self.last_exit.record() if self.last_exit else None,
        )

    def to_json(self) -> dict[str, object]:
        return self.record().model_dump(mode="json")


@dataclass(slots=True)
class Launcher:
    """How one platform makes and starts its pods: their ports, networks, workspaces, logs and serving settings.

    The supervisor owns one; the pod controllers and the spare keeper are given it, not the supervisor.
    """

    work_dir: Path
    log_dir: Path
    platform_id: str
    serving_args: list[str]
    """Serving settings every replica gets (batch size, queue delay, threads)."""
    repository: Path | None = None
    """The model repository; None: the packaged one."""
    networks: dict[str, RegionNet] = field(default_factory=dict)
    """Regions living in their own network namespace: filled once by the supervisor when it creates them
    (none by default), and shared with every pod made here, including those made before."""
    handed_out: set[int] = field(default_factory=set)
    """Ports given to pods (or other servers) of this platform, bound or not yet: never handed out twice."""

    def port(self) -> int:
        """A free port no pod of this platform has been given yet."""
        port = free_port(self.handed_out)
        self.handed_out.add(port)
        return port

    def replica(self, name: str, region: str, **fields: Any) -> ReplicaPod:
        """An inference replica pod with three freshly reserved ports (HTTP, gRPC, metrics)."""
        return ReplicaPod(
            name=name,
            region=region,
            http_port=self.port(),
            grpc_port=self.port(),
            metrics_port=self.port(),
            networks=self.networks,
            **fields,
        )

    def start(self, pod: ReplicaPod) -> None:
        """Start (or restart) the pod's process group."""
        pod.start(self.work_dir, self.log_dir, self.platform_id, self.serving_args, self.repository)


def kill_group(pgid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """True while any process (zombies excluded) of the group still runs."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def stop_group(proc: subprocess.Popen[bytes], grace_s: float) -> int:
    """SIGTERM the pod's main process, wait up to `grace_s`, then SIGKILL the whole group."""
    pgid = proc.pid
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored SIGTERM for %.0f s; killing its group", proc.pid, grace_s)
    kill_group(pgid)
    reap_group(pgid, timeout_s=5)
    return proc.wait()


def reap_group(pgid: int, timeout_s: float) -> bool:
    """Kill what is left of a group and wait until none of it runs."""
    deadline = time.monotonic() + timeout_s
    while group_alive(pgid):
        kill_group(pgid)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_ports_closed(ports: list[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(port_open(p, 0.05) for p in ports):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def clean_workspace(pod: ReplicaPod) -> None:
    """Remove what a killed replica leaves behind: its workspace and its /dev/shm segments."""
    if pod.workspace is not None:
        shutil.rmtree(pod.workspace, ignore_errors=True)
    if pod.proc is not None:
        # the replica names its python backend's segments rsw<pid>_... (see reference_platform.replica)
        for seg in Path("/dev/shm").glob(f"{SHM_PREFIX}{pod.proc.pid}_*"):
            seg.unlink(missing_ok=True)
