"""The wire contracts shared by the reference platform and the toolkit (`resilience`), spelled once.

What the supervisor writes and serves, and what the toolkit reads back: the state file (`PlatformState`,
written by the supervisor, read by `resilience.targets.local` and `lifecycle`), a pod and its last exit as
`GET /pods` and `/status` serve them (`PodRecord`, `PodExitRecord`, `StatusPodRecord`: made by
`reference_platform.pods`, parsed by `resilience.targets.base`), the rollout states of the control API's
`/rollout` JSON, the state file's name, the socket and workspace names the toolkit cleans up after a
platform that died, and the environment variable every platform process carries. The platform uses these
itself; the toolkit sees them through `resilience.targets` (its one seam to a platform). This module imports
nothing of the platform, and the platform never imports the toolkit.

A field the supervisor always writes but an older or scripted writer (a test's stub supervisor) may leave
out has a default: the toolkit read it that leniently before these models existed. Unknown fields are
refused: both sides import these models, so a field added on one side is added on both.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer


class RolloutState(enum.StrEnum):
    """The `state` of a rollout, as `/rollout` serves it (the values are the JSON strings on the wire).

    canary and shadow: starting -> progressing -> rolled-back | promoting -> promoted | aborted.
    blue-green: starting -> switched -> rolled-back | promoted | aborted.
    """

    NONE = "none"
    """No rollout was ever started (the control API's answer then)."""
    STARTING = "starting"
    PROGRESSING = "progressing"
    SWITCHED = "switched"
    PROMOTING = "promoting"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"


ROLLOUT_ACTIVE = frozenset(
    {RolloutState.STARTING, RolloutState.PROGRESSING, RolloutState.SWITCHED, RolloutState.PROMOTING}
)
"""A rollout still running: no other one may start, and a fault that started it must still end it."""
ROLLOUT_ENDED = frozenset({RolloutState.PROMOTED, RolloutState.ROLLED_BACK, RolloutState.ABORTED})
"""A rollout that is over: nothing of it is left to promote, abort or roll back."""

STATE_FILE = "platform.json"
"""In the platform's state dir: its endpoints, written by the supervisor once everything is ready."""
GATEWAY_SOCKET = "haproxy.sock"
"""In the platform's state dir: the gateway's (HAProxy's) runtime API socket."""
PLATFORM_ID_ENV = "RESILIENCE_PLATFORM_ID"
"""Every process of a platform carries this variable; `platform down` sweeps by it."""
WORKSPACE_PREFIX = "rsw-"
"""The replicas' workspaces live in `$TMPDIR/rsw-<platform id[:12]>` (short: they hold Unix sockets)."""
SHM_PREFIX = "rsw"
"""A replica's python-backend shared-memory segments are `/dev/shm/rsw<tritonserver pid>_...`."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- the state file (platform.json) ------------------------------------------------------------------------


class NetworkMode(enum.StrEnum):
    """How the platform's regions are networked (`network.mode` in the state file)."""

    LOOPBACK = "loopback"
    """Every region shares the host's loopback network."""
    NETNS = "netns"
    """Each region lives in its own network namespace, joined to the host by a veth pair."""


class GatewayEndpoints(_Wire):
    """Where the gateway (HAProxy) listens."""

    http: str
    """The KServe v2 HTTP endpoint, `host:port` (what the load is sent to)."""
    grpc: str
    """The KServe v2 gRPC endpoint, `host:port`."""
    metrics: str | None = None
    """HAProxy's Prometheus endpoint, a URL."""


class RegionNetwork(_Wire):
    """A region's own network namespace, its veth pair to the host and the addresses on each side."""

    netns: str
    host_dev: str
    ns_dev: str
    cidr: str
    gateway_ip: str
    """The gateway's source address towards the region (what a partition cuts)."""
    control_ip: str
    """The supervisor's probes' source address ("the kubelet": a partition spares it)."""
    pod_ip: str
    """The region's replicas' address inside the namespace."""


class NetworkState(_Wire):
    mode: NetworkMode = NetworkMode.LOOPBACK
    regions: dict[str, RegionNetwork] = Field(default_factory=dict)
    """Region name -> its namespace; empty in loopback mode."""


class PlatformShape(_Wire):
    """What `platform up` asked for: a second `up` with a different shape is refused, not ignored."""

    regions: int
    replicas: int
    """Inference replicas per region."""
    pipeline: bool
    netns: bool


class PlatformState(_Wire):
    """The state file (`STATE_FILE` in the platform's state dir), written by the supervisor once every pod it
    started is ready, removed when it stops; the toolkit finds, drives and cleans up a platform through it."""

    supervisor_pid: int | None = None
    platform_id: str | None = None
    """Every process of the platform carries it in `PLATFORM_ID_ENV`."""
    control_url: str
    """The supervisor's control API (`/pods`, `/status`, `/rollout`, `/route`, `/shutdown`), a URL."""
    gateway: GatewayEndpoints
    model: str
    """The model the replicas serve (what the load asks for)."""
    pipeline: dict[str, str] = Field(default_factory=dict)
    """Pipeline stage (`cameras`, `preprocess`, `sink`) -> its control and metrics URL; empty without one."""
    network: NetworkState = NetworkState()
    state_dir: str | None = None
    started_at: float | None = None
    """The supervisor's start, Unix time."""
    shape: PlatformShape | None = None
    """None in a state file written before shapes were recorded: nothing to compare then."""


# -- a pod and its last exit, as the control API serves them (GET /pods, /status) ------------------------------


class PodExitRecord(_Wire):
    """How a pod's process ended, as the supervisor (its parent, which reaped it) saw it."""

    pid: int
    returncode: int | None = None
    """The wait status: negative for a signal (`-9`), else the exit code."""
    signal: str | None = None
    """The signal that ended it (`SIGKILL`), if any."""
    at: float
    """When it was reaped, Unix time."""
    reason: str = ""
    """`exited: signal 9` / `exited: code 1` when it ended by itself or by someone's signal; otherwise what the
    supervisor did to it (`liveness probe failed 3 times`, `rollout to v2`)."""


class PodRecord(_Wire):
    """One pod as the supervisor knows it (an item of `GET /pods`); no replica is asked anything to make it."""

    name: str
    role: str
    """`inference`, or a pipeline stage (`cameras`, `preprocess`, `sink`)."""
    region: str
    pid: int | None
    """Its process group's id (the main process's pid); None while it is not running."""
    ready: bool
    started_at: float | None = None
    ready_at: float | None
    restarts: int
    warm_starts: int = 0
    """Restarts that took over a warm spare instead of booting."""
    crash_loop: bool = False
    incarnation: int = 0
    model_version: int | None = None
    """The model version an inference replica serves; None for pipeline stages."""
    variant: str = "stable"
    """`stable`, `canary` or `shadow` (a rollout's pods)."""
    http_port: int | None = None
    grpc_port: int | None = None
    metrics_port: int | None = None
    host: str = "127.0.0.1"
    """Where the pod's ports are reached: loopback, or its region namespace's address."""
    netns: str | None = None
    """The network namespace it runs in, if its region has one."""
    last_exit: PodExitRecord | None = None
    """How its previous process ended; None before the first restart."""


class StatusPodRecord(PodRecord):
    """A pod as `/status` serves it: its record, plus its server-side p99 where that was measured."""

    server_p99_ms: float | None = None
    """Triton's p99 request latency, read from a ready replica's /metrics: null when the replica did not answer
    (or served nothing yet), and left out of the JSON for a pod that was not asked (not ready, not a replica)."""

    @model_serializer(mode="wrap")
    def _leave_out_unasked(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if "server_p99_ms" not in self.model_fields_set:
            data.pop("server_p99_ms", None)
        return data
