"""The TCP fault proxy for real: a proxy process between a client and a real upstream, on loopback."""

from __future__ import annotations

import http.client
import http.server
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from resilience.targets.faultproxy import ProxyProcess, start_proxy, stop_proxy_pid

pytestmark = pytest.mark.integration

BODY = b"hello from upstream\n" * 8


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the gateway's connections to a replica
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle would add delayed-ACK stalls

    def do_GET(self) -> None:
        self.server.requests += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: Any) -> None:
        pass


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _ThreadingTCP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def upstream() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.requests = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def echo() -> Iterator[_ThreadingTCP]:
    server = _ThreadingTCP(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


Start = Callable[..., ProxyProcess]


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Start]:
    """Start proxies with `start_proxy`; every one is stopped afterwards, whatever the test did."""
    started: list[ProxyProcess] = []

    def start(upstreams: list[tuple[str, int]], mode: str, **kw: Any) -> ProxyProcess:
        state = tmp_path / f"proxy-{len(started)}.json"
        p = start_proxy(upstreams, mode, state, log_path=tmp_path / f"proxy-{len(started)}.log", **kw)
        started.append(p)
        return p

    try:
        yield start
    finally:
        for p in started:
            p.stop()


def _addr(server: socketserver.TCPServer) -> tuple[str, int]:
    host, port = server.socket.getsockname()[:2]
    return str(host), int(port)


def _wait_stats(p: ProxyProcess, ok: Callable[[dict[str, Any]], bool], timeout_s: float = 3.0) -> dict[str, Any]:
    """Poll the proxy's state file (refreshed every 0.25 s) until `ok` holds; the last stats either way."""
    deadline = time.monotonic() + timeout_s
    stats = p.stats()
    while not ok(stats) and time.monotonic() < deadline:
        time.sleep(0.05)
        stats = p.stats()
    return stats


def _get_latencies_ms(port: int, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == BODY
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        conn.close()
    return out


def test_pass_forwards_keepalive_requests_unchanged(proxy: Start, upstream: http.server.ThreadingHTTPServer) -> None:
    p = proxy([_addr(upstream)], "pass")
    (link,) = p.links
    assert link.listen > 0 and (link.upstream_host, link.upstream_port) == _addr(upstream)
    t0 = time.perf_counter()
    latencies = _get_latencies_ms(link.listen, 200)  # one keep-alive connection, every body checked
    rps = 200 / (time.perf_counter() - t0)
    print(f"pass mode: {rps:.0f} requests/s, p50 {statistics.median(latencies):.2f} ms")
    stats = _wait_stats(p, lambda s: s["bytes_down"] >= 200 * len(BODY))
    assert stats["mode"] == "pass" and stats["pid"] == p.pid
    assert stats["connections_accepted"] == 1
    assert stats["bytes_up"] > 0 and stats["bytes_down"] >= 200 * len(BODY)
    assert stats["resets"] == 0 and stats["chunks_delayed"] == 0


def test_pass_serves_concurrent_connections_full_duplex(proxy: Start, echo: _ThreadingTCP) -> None:
    p = proxy([_addr(echo)], "pass")
    payload = os.urandom(1 << 20)
    results: list[bool] = []

    def one() -> None:
        # Send and receive at once: an echo of 1 MiB only completes if both directions flow together.
        with socket.create_connection(("127.0.0.1", p.links[0].listen), timeout=5) as s:
            sender = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
            sender.start()
            got = bytearray()
            while len(got) < len(payload) and (chunk := s.recv(1 << 16)):
                got += chunk
            sender.join(5)
            results.append(bytes(got) == payload)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    elapsed = time.perf_counter() - t0
    print(f"pass mode: 8 concurrent 1 MiB echoes in {elapsed * 1000:.0f} ms ({16 / elapsed:.0f} MiB/s both ways)")
    assert results == [True] * 8
    stats = _wait_stats(p, lambda s: s["bytes_down"] >= 8 << 20 and s["connections_active"] == 0)
    assert stats["connections_accepted"] == 8 and stats["bytes_up"] == stats["bytes_down"] == 8 << 20


def test_delay_adds_latency_both_ways(proxy: Start, upstream: http.server.ThreadingHTTPServer) -> None:
    direct = statistics.median(_get_latencies_ms(_addr(upstream)[1], 10))
    p = proxy([_addr(upstream)], "delay", latency_ms=50)
    delayed = _get_latencies_ms(p.links[0].listen, 10)
    added = statistics.median(delayed) - direct
    print(f"delay 50 ms: direct p50 {direct:.2f} ms, added p50 {added:.1f} ms (min {min(delayed) - direct:.1f})")
    assert min(delayed) - direct >= 95 and added < 400  # request and response each held >= 50 ms
    stats = _wait_stats(p, lambda s: s["chunks_delayed"] >= 20)
    assert stats["chunks_delayed"] >= 20  # at least one chunk each way per request
    assert stats["delay_ms_total"] >= 50 * stats["chunks_delayed"] - 1


def test_delay_jitter_spreads_latency(proxy: Start, upstream: http.server.ThreadingHTTPServer) -> None:
    p = proxy([_addr(upstream)], "delay", latency_ms=50, jitter_ms=20)
    delayed = _get_latencies_ms(p.links[0].listen, 20)
    print(f"delay 50±20 ms: min {min(delayed):.1f} ms, max {max(delayed):.1f} ms")
    assert min(delayed) >= 60 - 1  # two directions, each at least 50 - 20 ms
    assert max(delayed) - min(delayed) >= 10  # 20 draws of the sum of two uniform(30, 70)s spread out


def test_delay_preserves_order_and_pipelines(proxy: Start, echo: _ThreadingTCP) -> None:
    p = proxy([_addr(echo)], "delay", latency_ms=50, jitter_ms=40)
    lines = [f"line {i:03d}\n".encode() for i in range(100)]
    with socket.create_connection(("127.0.0.1", p.links[0].listen), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        for line in lines:  # separate small writes, sent faster than the delay, each with its own jitter
            s.sendall(line)
            time.sleep(0.001)
        got = b""
        deadline = time.monotonic() + 5
        while len(got) < len(b"".join(lines)) and time.monotonic() < deadline:
            got += s.recv(65536)
        elapsed = time.perf_counter() - t0
    assert got == b"".join(lines)
    # One chunk per delay would take 100 x 2 x 50 ms = 10 s; queued per direction it is about one delay each way.
    print(f"100 echoed lines through delay 50±40 ms in {elapsed * 1000:.0f} ms")
    assert elapsed < 2.0
    assert _wait_stats(p, lambda s: s["chunks_delayed"] >= 2)["chunks_delayed"] >= 2


def test_blackhole_accepts_but_never_answers(proxy: Start, upstream: http.server.ThreadingHTTPServer) -> None:
    p = proxy([_addr(upstream)], "blackhole")
    before = upstream.requests  # type: ignore[attr-defined]
    with socket.create_connection(("127.0.0.1", p.links[0].listen), timeout=0.5) as s:  # the connect succeeds
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(TimeoutError):  # a partition: no answer, no refusal, no close
            s.recv(1024)
    stats = _wait_stats(p, lambda s: s["blackholed_connections"] >= 1 and s["bytes_discarded"] > 0)
    assert stats["blackholed_connections"] >= 1 and stats["bytes_discarded"] > 0
    assert stats["bytes_up"] == 0 and stats["bytes_down"] == 0
    assert upstream.requests == before  # type: ignore[attr-defined]


def _one_request(port: int) -> bool:
    """Whether a fresh connection's request was reset (True) or answered (False)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert resp.read() == BODY
        return False
    except ConnectionError:  # ConnectionResetError, BrokenPipeError, RemoteDisconnected
        return True
    finally:
        conn.close()


def test_reset_resets_every_connection(proxy: Start, upstream: http.server.ThreadingHTTPServer) -> None:
    p = proxy([_addr(upstream)], "reset")
    with pytest.raises(ConnectionError), socket.create_connection(("127.0.0.1", p.links[0].listen), timeout=2) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.05)  # let the RST arrive
        s.sendall(b"more")
        s.recv(1024)
    assert _one_request(p.links[0].listen) is True
    assert _wait_stats(p, lambda s: s["resets"] >= 2)["resets"] >= 2


def test_reset_probability_resets_a_fraction(proxy: Start, upstream: http.server.ThreadingHTTPServer) -> None:
    p = proxy([_addr(upstream)], "reset", probability=0.5)
    seen = sum(_one_request(p.links[0].listen) for _ in range(200))
    stats = _wait_stats(p, lambda s: s["connections_accepted"] >= 200 and s["connections_active"] == 0)
    print(f"reset p=0.5: {stats['resets']} of 200 connections reset")
    assert stats["connections_accepted"] == 200
    assert 60 <= stats["resets"] <= 140
    assert seen == stats["resets"]


def test_dead_upstream_closes_the_client(proxy: Start) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    p = proxy([("127.0.0.1", dead)], "pass")
    with socket.create_connection(("127.0.0.1", p.links[0].listen), timeout=2) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.recv(1024) == b""
    assert _wait_stats(p, lambda s: s["upstream_errors"] >= 1)["upstream_errors"] >= 1


def test_stop_removes_everything(proxy: Start, upstream: http.server.ThreadingHTTPServer) -> None:
    p = proxy([_addr(upstream), _addr(upstream)], "pass")
    ports = [link.listen for link in p.links]
    assert len(set(ports)) == 2
    t0 = time.monotonic()
    p.stop()
    print(f"stop took {(time.monotonic() - t0) * 1000:.0f} ms")
    assert p.returncode == 0  # a clean SIGTERM exit, not a SIGKILL
    assert not Path(f"/proc/{p.pid}").exists()
    assert not p.state_file.exists()
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    p.stop()  # idempotent


def test_stop_proxy_pid_stops_only_proxies(proxy: Start, upstream: http.server.ThreadingHTTPServer) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert stop_proxy_pid(sleeper.pid, None) is False
        assert sleeper.poll() is None  # an unrelated process is never signalled
    finally:
        sleeper.kill()
        sleeper.wait()
    p = proxy([_addr(upstream)], "blackhole")
    assert stop_proxy_pid(p.pid, p.state_file) is True
    assert not p.state_file.exists()
    # stopped once it no longer runs the proxy; the kernel may take a moment more to finish its exit
    deadline = time.monotonic() + 2
    while p.returncode is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert p.returncode is not None
    assert stop_proxy_pid(p.pid, p.state_file) is False  # already gone


def test_bad_arguments_are_refused(tmp_path: Path, upstream: http.server.ThreadingHTTPServer) -> None:
    state = tmp_path / "never.json"
    with pytest.raises(ValueError, match="unknown mode"):
        start_proxy([_addr(upstream)], "nope", state)
    with pytest.raises(ValueError, match="latency_ms"):
        start_proxy([_addr(upstream)], "delay", state, latency_ms=-1)
    with pytest.raises(ValueError, match="probability"):
        start_proxy([_addr(upstream)], "reset", state, probability=1.5)
    cli = [sys.executable, "-m", "resilience.targets.faultproxy", "--link", "0:127.0.0.1:1", "--state-file", str(state)]
    for extra in (
        ["--mode", "nope"],
        ["--mode", "reset", "--probability", "2"],
        ["--mode", "delay", "--latency-ms", "-5"],
    ):
        result = subprocess.run([*cli, *extra], capture_output=True, text=True, timeout=10, env=dict(os.environ))
        assert result.returncode == 2, result.stderr
        assert "error" in result.stderr
    assert not state.exists()
