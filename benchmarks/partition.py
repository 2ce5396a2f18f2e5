"""Partition region a, both mechanisms side by side: nftables in network namespaces vs the fault proxy.

Per run: 100 req/s of open-loop load through the gateway to region a (which fails over to region b),
and a link prober that sends a health request every 5 ms (250 ms timeout) down the same path the
gateway uses to reach a-0 (re-read from HAProxy's runtime API, so it follows the proxy when routed
through one). A `--hold`-second partition lands a third of the way in. Prints, per mechanism:
- inject -> first timeout: from the fault taking effect to the first prober request that timed out
  (its send time; the timeout itself fires 250 ms later), and heal -> first success.
- the gateway's clients over the whole run: failed requests, availability, p99.
Targets (issue 4): inject -> first timeout and heal -> first success each under 1 s.
Targets (issue 3): availability >= 99.9% over the run with region a partitioned.
Needs root (nftables, namespaces); without it only the proxy rows run.

    python benchmarks/partition.py [--runs 2] [--seconds 24] [--hold 8]
"""

from __future__ import annotations

import argparse
import http.client
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from resilience.faults import FaultContext, RegionPartition
from resilience.load import LoadGenerator, LoadSpec
from resilience.model import merge_latency
from resilience.targets import lifecycle, netfilter

SAMPLES = Path(__file__).resolve().parents[1] / "reference_platform" / "model" / "samples.npy"
TIMEOUT_S = 0.25


@dataclass
class Probe:
    sent: float
    done: float
    ok: bool


def _route(sock_path: Path, server: str) -> tuple[str, int]:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock_path))
        s.sendall(b"show servers state http_a\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    for line in data.decode().splitlines()[2:]:
        cols = line.split()
        if len(cols) > 18 and cols[3] == server:
            return cols[4], int(cols[18])
    raise RuntimeError(f"{server} not in http_a")


def prober(platform: lifecycle.LocalPlatform, stop: threading.Event, out: list[Probe]) -> None:
    sock_path = platform.state_dir / "haproxy.sock"
    net = platform.region_link("a")
    while not stop.is_set():
        host, port = _route(sock_path, "a-0")
        source = (net.gateway_ip, 0) if net and host == net.pod_ip else None
        sent = time.time()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S, source_address=source)
            conn.request("GET", "/v2/health/ready")
            ok = conn.getresponse().status == 200
            conn.close()
        except (OSError, http.client.HTTPException):
            ok = False
        out.append(Probe(sent, time.time(), ok))
        time.sleep(max(0.0, 0.005 - (time.time() - sent)))


def one(platform: lifecycle.LocalPlatform, mechanism: str, seconds: float, hold: float, work: Path) -> dict[str, float]:
    gen = LoadGenerator(
        LoadSpec(rate=100, warmup_s=1, max_duration_s=seconds + 60),
        target=platform.gateway_http,
        payload=SAMPLES,
        model=platform.model,
        input_name="images",
        log_path=work / "locust.log",
    )
    gen.start()
    t0 = time.time()
    probes: list[Probe] = []
    stop = threading.Event()
    thread = threading.Thread(target=prober, args=(platform, stop, probes), daemon=True)
    thread.start()
    time.sleep(seconds / 3)
    (rec,) = RegionPartition("a", "gateway", hold, mechanism).inject(FaultContext(platform))
    time.sleep(max(0.0, seconds - (time.time() - t0)))
    stop.set()
    thread.join()
    gen.stop()
    assert rec.landed, rec.evidence
    injected, healed = rec.injected_at, rec.recovered_at or time.time()
    first_timeout = next((p for p in probes if p.sent >= injected and not p.ok), None)
    first_success = next((p for p in probes if p.sent >= healed and p.ok), None)
    slices = [s for s in gen.slices() if s.start >= t0]
    total, failed = sum(s.total for s in slices), sum(s.failed for s in slices)
    return {
        "to_timeout_s": (first_timeout.sent - injected) if first_timeout else float("nan"),
        "heal_s": (first_success.done - healed) if first_success else float("nan"),
        "requests": total,
        "failed": failed,
        "availability": (total - failed) / total if total else float("nan"),
        "p99": merge_latency(slices).percentile_ms(99) or 0.0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--seconds", type=float, default=24.0)
    p.add_argument("--hold", type=float, default=8.0)
    args = p.parse_args()
    why = netfilter.available()
    mechanisms = ["proxy"] + ([] if why else ["nftables"])
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in mechanisms}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        platform = lifecycle.up(state, regions=2, netns=why is None)
        try:
            for _ in range(args.runs):
                for m in mechanisms:
                    rows[m].append(one(platform, m, args.seconds, args.hold, Path(tmp)))
                    time.sleep(3)
        finally:
            lifecycle.down(state)
    print(
        f"2 regions x 2 replicas{' in network namespaces' if why is None else ''}, 100 req/s Poisson to region a, "
        f"{args.seconds:g} s per run, region a partitioned from the gateway for {args.hold:g} s"
    )
    if why:
        print(f"(nftables rows skipped: {why})")
    print(
        f"{'mechanism':10}{'inject->timeout s':>19}{'heal->success s':>17}{'failed/requests':>18}{'availability':>14}{'p99 ms':>9}"
    )
    for m, results in rows.items():
        for r in results:
            print(
                f"{m:10}{r['to_timeout_s']:>19.3f}{r['heal_s']:>17.3f}{int(r['failed']):>10}/{int(r['requests']):<7}"
                f"{r['availability'] * 100:>13.3f}%{r['p99']:>9.2f}"
            )


if __name__ == "__main__":
    main()
