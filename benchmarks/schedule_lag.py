"""Schedule lag of the open-loop generator pinned to one core, at rising rates.

The generator (Locust + our scheduler user, in its own process) is pinned with `taskset` to CPU 0 and
sends to the local platform's gateway; the platform keeps the other core. Schedule lag = when a request
was actually started minus when it was intended (HDR p50/p99 over every request); the generator's CPU
time shows how much of its core it used. Target (issue 5): lag p99 <= 1 ms at 1,000 req/s on one core.
Requests may fail at the higher rates (2 replicas cannot serve 1,000 req/s on one core): lag is about
the generator keeping its schedule, which open loop must do whatever the server does.

    python benchmarks/schedule_lag.py [--rates 200,500,1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from resilience.load import LoadGenerator, LoadSpec
from resilience.model import merge_lag
from resilience.targets import lifecycle

SAMPLES = Path(__file__).resolve().parents[1] / "reference_platform" / "model" / "samples.npy"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="200,500,1000")
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        platform = lifecycle.up(state)
        try:
            for rate in [float(r) for r in args.rates.split(",")]:
                gen = LoadGenerator(
                    LoadSpec(rate=rate, warmup_s=0, arrival="constant", max_duration_s=args.seconds + 30, timeout_s=1),
                    target=platform.gateway_http,
                    payload=SAMPLES,
                    model=platform.model,
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
            lifecycle.down(state)
    print(
        f"open-loop generator pinned to CPU 0, constant arrivals, {args.seconds:g} s per rate, gateway on the same box"
    )
    print(f"{'rate':>6}{'achieved':>10}{'lag p50 ms':>12}{'lag p99 ms':>12}{'gen CPU s':>11}{'failed/requests':>18}")
    for rate, achieved, p50, p99, cpu, failed, total in rows:
        print(
            f"{rate:>6.0f}{achieved:>10.1f}{p50 or 0:>12.3f}{p99 or 0:>12.3f}{cpu or 0:>11.2f}{failed:>10}/{total:<7}"
        )


if __name__ == "__main__":
    main()
