"""Schedule lag of the open-loop generator pinned to one core, at rising rates.

The generator (Locust + our scheduler user, in its own process) is pinned to CPU 0 and sends to a
server pinned to CPU 1: `--server instant` (default: a KServe v2 endpoint that answers at once, so the
generator is what is measured) or `--server platform` (the local platform's gateway and replicas).
Schedule lag = when a request was handed to the client (in its own greenlet, just before the send) minus
when it was intended (HDR p50/p99 over every request); the generator's CPU time shows how much of its
core it used. Target (issue 5): lag p99 <= 1 ms at 1,000 req/s on one core.
With the platform, requests fail above ~500 req/s (2 replicas on one core) and the generator's error
handling costs CPU too: lag is about the generator keeping its schedule, whatever the server does.

    python benchmarks/schedule_lag.py [--rates 200,500,1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reference_platform.pods import free_port
from resilience.load import LoadGenerator, LoadSpec
from resilience.model import merge_lag
from resilience.targets import lifecycle

SAMPLES = Path(__file__).resolve().parents[1] / "reference_platform" / "model" / "samples.npy"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="200,500,1000")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--server", choices=["instant", "platform"], default="instant")
    p.add_argument("--spin-ms", default="0,1.5", help="generator settings to compare (LoadSpec.spin_ms)")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        server = None
        if args.server == "platform":
            platform = lifecycle.up(state)
            target = platform.gateway_http
            pids = [p.pid for p in lifecycle.leftovers(platform.state["platform_id"])] + [
                platform.state["supervisor_pid"]
            ]
        else:
            port = free_port()
            server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("instant_server.py")), str(port)])
            target, pids = f"127.0.0.1:{port}", [server.pid]
            time.sleep(1.0)
        # the server gets CPU 1, the generator CPU 0: "one core" for the generator, not shared
        for pid in pids:
            for task in Path(f"/proc/{pid}/task").iterdir():
                os.sched_setaffinity(int(task.name), {1})
        try:
            for spin, rate in [(float(s), float(r)) for s in args.spin_ms.split(",") for r in args.rates.split(",")]:
                gen = LoadGenerator(
                    LoadSpec(
                        rate=rate,
                        warmup_s=0,
                        arrival="constant",
                        max_duration_s=args.seconds + 30,
                        timeout_s=1,
                        spin_ms=spin,
                    ),
                    target=target,
                    payload=SAMPLES,
                    model="qc_cnn",
                    input_name="images",
                    log_path=Path(tmp) / "locust.log",
                )
                gen.start()
                assert gen.pid is not None
                for task in Path(f"/proc/{gen.pid}/task").iterdir():  # every thread (gevent hub, zmq I/O)
                    os.sched_setaffinity(int(task.name), {0})
                time.sleep(args.seconds)
                gen.stop()
                s = gen.summary()
                lag = merge_lag(gen.slices())
                rows.append(
                    (
                        spin,
                        rate,
                        s.achieved_rps,
                        lag.percentile_ms(50),
                        lag.percentile_ms(99),
                        s.generator_cpu_s,
                        s.failures,
                        s.requests,
                    )
                )
        finally:
            if server is not None:
                server.kill()
            else:
                lifecycle.down(state)
    print(
        f"open-loop generator pinned to CPU 0, server ({args.server}) on CPU 1, constant arrivals, {args.seconds:g} s per rate"
    )
    print(
        f"{'spin ms':>8}{'rate':>6}{'achieved':>10}{'lag p50 ms':>12}{'lag p99 ms':>12}{'gen CPU s':>11}{'failed/requests':>18}"
    )
    for spin, rate, achieved, p50, p99, cpu, failed, total in rows:
        print(
            f"{spin:>8g}{rate:>6.0f}{achieved:>10.1f}{p50 or 0:>12.3f}{p99 or 0:>12.3f}{cpu or 0:>11.2f}{failed:>10}/{total:<7}"
        )


if __name__ == "__main__":
    main()
