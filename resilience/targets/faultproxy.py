"""A userspace TCP fault proxy: latency, partitions and resets injected at the TCP boundary, unprivileged.

This kernel has no netem, so `tc netem` cannot delay or drop a replica's traffic. The proxy stands in for it:
run as its own process between the gateway and a replica, it forwards bytes both ways without parsing them
(HTTP/1.1 keep-alive and gRPC/h2 alike) and applies one fault mode for its whole life: `pass`, `delay`,
`blackhole` (accept, swallow, never answer: callers see response timeouts), `drop` (a partition: a listener
that never accepts, so the kernel drops callers' SYNs and they see connect timeouts, as behind a packet filter)
or `reset` (a TCP RST, optionally for a fraction).
Its state file holds the counters that prove the fault landed; the helpers below start, read and stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience.errors import FaultError, UsageError
from resilience.targets.helperprocess import HelperProcess, Readiness, remove_state, stop_recorded, write_state

log = logging.getLogger(__name__)

MODULE = "resilience.targets.faultproxy"
MODES = ("pass", "delay", "blackhole", "drop", "reset")
_TRAFFIC = ("connections_accepted", "connections_active", "bytes_up", "bytes_down", "bytes_discarded")
COUNTERS = (
    *_TRAFFIC,
    "resets",
    "chunks_delayed",
    "delay_ms_total",
    "blackholed_connections",
    "upstream_errors",
    "listen_drops_host",
)
CHUNK = 64 * 1024
QUEUE_CHUNKS = 64  # per direction: enough in flight for a 50 ms delay at ~80 MB/s, bounded so TCP backpressure holds
REFRESH_S = 0.25
CONNECT_TIMEOUT_S = 5.0  # TimeoutError is an OSError: a silent upstream counts as an upstream error


def _problem(mode: str, latency_ms: float, jitter_ms: float, probability: float) -> str | None:
    """Say what is wrong with these fault parameters, or None if they are valid."""
    if mode not in MODES:
        return f"unknown mode {mode!r}: use one of {', '.join(MODES)}"
    if not latency_ms >= 0:  # written so that NaN is refused too
        return f"latency_ms must be >= 0, got {latency_ms}"
    if not jitter_ms >= 0:
        return f"jitter_ms must be >= 0, got {jitter_ms}"
    if not 0 <= probability <= 1:
        return f"probability must be within [0, 1], got {probability}"
    return None


class _Proxy:
    """The running proxy: its listeners, live connections and the counters written to the state file."""

    def __init__(self, ns: argparse.Namespace) -> None:
        self.ns = ns
        self.state_file: Path = ns.state_file
        self.counters: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        self.writers: set[asyncio.StreamWriter] = set()
        self.reported: list[dict[str, Any]] = []
        self.started_at = time.time()

    async def run(self) -> None:
        """Listen on every link and serve until SIGTERM/SIGINT, refreshing the state file."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        servers: list[asyncio.Server] = []
        silent: list[socket.socket] = []
        drops_at_start = _listen_drops()
        try:
            for listen, host, port in self.ns.link if self.ns.mode == "drop" else []:
                # A listener that never accepts, with no backlog: the kernel drops the SYNs it cannot queue, so
                # callers see connect timeouts - what a packet filter's partition looks like - not a refusal.
                sock = socket.socket()
                sock.bind(("127.0.0.1", listen))
                sock.listen(0)
                silent.append(sock)
                self.reported.append({"listen": sock.getsockname()[1], "upstream": f"{host}:{port}"})
            for listen, host, port in self.ns.link if self.ns.mode != "drop" else []:
                handler = functools.partial(self._handle, host, port)
                server = await asyncio.start_server(handler, "127.0.0.1", listen, backlog=1024)
                servers.append(server)
                self.reported.append({"listen": server.sockets[0].getsockname()[1], "upstream": f"{host}:{port}"})
            log.info("fault proxy (%s) listening: %s", self.ns.mode, self.reported)
            self._write_state()  # a proxy that cannot report must not start: the parent waits for this file
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), REFRESH_S)
                if silent:  # host-wide counter: on a shared host other listeners' drops count too
                    self.counters["listen_drops_host"] = _listen_drops() - drops_at_start
                try:
                    self._write_state()
                except OSError as exc:  # keep injecting the fault; the parent will see stale counters
                    log.warning("could not refresh %s: %s", self.state_file, exc)
        finally:
            for sock in silent:
                sock.close()
            for server in servers:
                server.close()
            for writer in list(self.writers):
                writer.transport.abort()
            self.state_file.unlink(missing_ok=True)

    def _write_state(self) -> None:
        """Replace the state file atomically, so a reader never sees half of it."""
        fault = {k: getattr(self.ns, k) for k in ("mode", "latency_ms", "jitter_ms", "probability")}
        state = {"pid": os.getpid(), **fault, "links": self.reported, "started_at": self.started_at, "updated_at": 0.0}
        write_state(self.state_file, {**state, **self.counters})  # stamps updated_at

    async def _handle(self, host: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Apply the mode to one accepted client connection."""
        self.counters["connections_accepted"] += 1
        self.counters["connections_active"] += 1
        self.writers.add(writer)
        try:
            if self.ns.mode == "reset" and random.random() < self.ns.probability:
                # SO_LINGER (on, 0 s) makes close() send RST instead of FIN: the client sees a reset, not EOF.
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                self.counters["resets"] += 1
            elif self.ns.mode == "blackhole":
                self.counters["blackholed_connections"] += 1
                while data := await reader.read(CHUNK):
                    self.counters["bytes_discarded"] += len(data)
            else:
                await self._forward(host, port, reader, writer)
        except OSError as exc:
            log.debug("connection ended: %s", exc)
        except asyncio.CancelledError:
            # Shutdown cancels live connections; Python 3.11's stream callback logs a cancelled handler as an error.
            log.debug("connection cancelled at shutdown")
        finally:
            self.counters["connections_active"] -= 1
            self.writers.discard(writer)
            writer.close()

    async def _forward(
        self, host: str, port: int, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        """Connect upstream and pump bytes both ways until both directions have ended."""
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
        except OSError as exc:
            # Closing the client is what a dead replica looks like to the gateway; the counter says why.
            self.counters["upstream_errors"] += 1
            log.info("upstream %s:%d unreachable: %s", host, port, exc)
            return
        self.writers.add(up_w)
        try:
            await asyncio.gather(
                self._pump(client_r, up_w, client_w, "bytes_up"), self._pump(up_r, client_w, up_w, "bytes_down")
            )
        finally:
            self.writers.discard(up_w)
            up_w.close()

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, src_w: asyncio.StreamWriter, counter: str
    ) -> None:
        """Copy one direction, each chunk at its release time, passing on a half-close; on error drop both sides."""
        # One code path for pass and delay, so a pass-mode baseline measures the same proxy that delays.
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes | OSError]] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
        feeder = asyncio.create_task(self._feed(src, queue))
        try:
            while (item := await queue.get())[1]:
                release, data = item
                if isinstance(data, OSError):
                    raise data
                if release > loop.time():
                    await asyncio.sleep(release - loop.time())
                dst.write(data)
                self.counters[counter] += len(data)
                await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()
        except OSError as exc:
            log.debug("%s pump failed: %s", counter, exc)
            dst.transport.abort()
            src_w.transport.abort()
        finally:
            feeder.cancel()

    async def _feed(self, src: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes | OSError]]) -> None:
        """Read one direction ahead of its writer (throughput is not one chunk per delay), stamping release times."""
        loop, ns, release = asyncio.get_running_loop(), self.ns, 0.0
        try:
            while data := await src.read(CHUNK):
                if ns.mode == "delay":
                    now = loop.time()
                    delay_ms = max(0.0, ns.latency_ms + random.uniform(-ns.jitter_ms, ns.jitter_ms))
                    release = max(now + delay_ms / 1000, release)  # jitter must never reorder a byte stream
                    self.counters["chunks_delayed"] += 1
                    self.counters["delay_ms_total"] += (release - now) * 1000
                await queue.put((release, data))
            await queue.put((0.0, b""))
        except OSError as exc:
            await queue.put((0.0, exc))


def _listen_drops() -> int:
    """The kernel's count of SYNs dropped at full listen queues (TcpExt ListenDrops), host-wide."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            row = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(row.get("ListenDrops", 0))
    return 0


def _parse_link(text: str) -> tuple[int, str, int]:
    """Parse LISTEN_PORT:UPSTREAM_HOST:UPSTREAM_PORT."""
    try:
        listen, rest = text.split(":", 1)
        host, port = rest.rsplit(":", 1)
        link = (int(listen), host.strip("[]"), int(port))
    except ValueError:
        link = (-1, "", -1)
    if not (0 <= link[0] < 65536 and link[1] and 0 < link[2] < 65536):
        raise argparse.ArgumentTypeError(f"{text!r}: expected LISTEN_PORT:UPSTREAM_HOST:UPSTREAM_PORT")
    return link


def main(argv: list[str] | None = None) -> int:
    """Run the proxy until SIGTERM/SIGINT; 0 on a clean stop."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description="Userspace TCP fault proxy (a stand-in for tc netem)."
    )
    parser.add_argument("--link", type=_parse_link, action="append", required=True, help="LISTEN:HOST:PORT (0: any)")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay mode: added per chunk, per direction")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="delay mode: uniform +/- around the latency")
    parser.add_argument("--probability", type=float, default=1.0, help="reset mode: fraction of connections reset")
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    ns = parser.parse_args(argv)
    if problem := _problem(ns.mode, ns.latency_ms, ns.jitter_ms, ns.probability):
        parser.error(problem)
    logging.basicConfig(level=ns.log_level, format="%(asctime)s faultproxy[%(process)d] %(levelname)s %(message)s")
    try:
        asyncio.run(_Proxy(ns).run())
    except OSError as exc:
        log.error("fault proxy failed: %s", exc)
        return 1
    return 0


@dataclass(frozen=True, slots=True)
class ProxyLink:
    listen: int
    upstream_host: str
    upstream_port: int


class ProxyProcess:
    """A proxy started by `start_proxy`: its pid, its links as it reported them, its counters, and its stop."""

    def __init__(self, helper: HelperProcess, state_file: Path, links: list[ProxyLink]) -> None:
        self._helper = helper
        self.pid = helper.pid
        self.links = links
        self.state_file = state_file

    @property
    def returncode(self) -> int | None:
        return self._helper.returncode

    @property
    def listen_ports(self) -> tuple[int, ...]:
        return tuple(link.listen for link in self.links)

    def stats(self) -> dict[str, Any]:
        """Read the counters the proxy last wrote (refreshed every 0.25 s)."""
        return self._helper.state()

    def stop(self, timeout_s: float = 3.0) -> None:
        """SIGTERM the proxy, SIGKILL it if it lingers, and remove its state file. Idempotent."""
        self._helper.stop(timeout_s)
        remove_state(self.state_file, self.pid)


def start_proxy(
    links: list[tuple[str, int]],
    mode: str,
    state_file: Path,
    *,
    latency_ms: float = 0,
    jitter_ms: float = 0,
    probability: float = 1.0,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    timeout_s: float = 5.0,
) -> ProxyProcess:
    """Start a detached proxy, one free listen port per upstream; return once its state file shows it listening."""
    if problem := _problem(mode, latency_ms, jitter_ms, probability):
        raise UsageError(f"fault proxy: {problem}")
    if not links:
        raise UsageError("fault proxy: give at least one upstream (host, port)")
    # The package imports this module too, so `-m` would warn it is already loaded: harmless, kept out of the log.
    cmd = [sys.executable, "-W", "ignore::RuntimeWarning:runpy", "-m", MODULE, "--mode", mode]
    cmd += ["--state-file", str(state_file)]
    cmd += ["--latency-ms", str(latency_ms), "--jitter-ms", str(jitter_ms), "--probability", str(probability)]
    for host, port in links:
        cmd += ["--link", f"0:{host}:{port}"]
    with open(log_path, "ab") if log_path else contextlib.nullcontext(subprocess.DEVNULL) as out:
        # It outlives us (no death signal): the fault ledger records its pid for `resilience recover`.
        helper = HelperProcess.spawn(cmd, "fault proxy", output=out, state_file=state_file, env=env)
    readiness = helper.wait_ready(timeout_s, poll_s=0.02)
    if readiness is Readiness.READY:
        reported = [(d["listen"], *d["upstream"].rsplit(":", 1)) for d in helper.state()["links"]]
        return ProxyProcess(helper, state_file, [ProxyLink(int(lp), h, int(p)) for lp, h, p in reported])
    if readiness is Readiness.EXITED:
        raise FaultError(
            f"fault proxy ({mode}) exited with code {helper.returncode} before listening;"
            f" see {log_path if log_path else 'its log (pass log_path to keep one)'}"
        )
    raise FaultError(f"fault proxy ({mode}) did not report listening in {timeout_s:.1f}s at {state_file}; killed it")


def stop_proxy_pid(pid: int, state_file: Path | None, timeout_s: float = 3.0) -> bool:
    """Stop the proxy at `pid` (known from a ledger) if it is one: SIGTERM, then SIGKILL. True if one was stopped."""
    stopped = stop_recorded(pid, MODULE, "fault proxy", timeout_s)
    if state_file is not None:
        remove_state(state_file, pid)
    return stopped


if __name__ == "__main__":
    sys.exit(main())
