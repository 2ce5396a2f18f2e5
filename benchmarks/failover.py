"""Failover under load on 2 regions x 2 replicas: lose one replica of four, then a whole region.

For each of `--runs` runs: 100 req/s of open-loop load to region a for `--seconds`, and at one third of
the way either SIGKILL one replica (a-0) or both replicas of region a at once. Prints failed requests,
availability and p99 over each run, and how long the killed replicas took to be ready again.
Targets (issue 3): one of four killed -> zero failed requests; region lost -> availability >= 99.9%.
(A network partition of a region, the other way to lose it, is measured by benchmarks/partition.py.)

    python benchmarks/failover.py [--runs 3] [--seconds 15]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from resilience.faults import FaultContext, PodKill, Selector
from resilience.load import LoadGenerator, LoadSpec
from resilience.model import merge_latency
from resilience.targets import lifecycle

SAMPLES = Path(__file__).resolve().parents[1] / "reference_platform" / "model" / "samples.npy"


def one(platform: lifecycle.LocalPlatform, count: int, seconds: float, work: Path) -> dict[str, float]:
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
    records: list = []  # type: ignore[type-arg]
    fault = PodKill(Selector(role="inference", region="a", count=count, max_fraction=0.5))
    killer = threading.Timer(seconds / 3, lambda: fault.inject(FaultContext(platform, records)))
    killer.start()
    time.sleep(seconds)
    killer.join()
    gen.stop()
    slices = [s for s in gen.slices() if s.start >= t0]
    total, failed = sum(s.total for s in slices), sum(s.failed for s in slices)
    return {
        "requests": total,
        "failed": failed,
        "availability": (total - failed) / total,
        "p99": merge_latency(slices).percentile_ms(99) or 0.0,
        "ready_s": max(r.evidence.get("time_to_ready_s", float("nan")) for r in records),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=15.0)
    args = p.parse_args()
    rows: dict[str, list[dict[str, float]]] = {"1 of 4 replicas killed": [], "region a lost (2 of 4)": []}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        platform = lifecycle.up(state, regions=2)
        try:
            for _ in range(args.runs):
                for name, count in (("1 of 4 replicas killed", 1), ("region a lost (2 of 4)", 2)):
                    rows[name].append(one(platform, count, args.seconds, Path(tmp)))
                    time.sleep(32)  # restart backoff resets: every kill is a first restart
        finally:
            lifecycle.down(state)
    print(f"2 regions x 2 replicas, 100 req/s Poisson to region a, {args.seconds:g} s per run, {args.runs} runs")
    print(f"{'':26}{'failed/requests':>18}{'availability':>14}{'p99 ms':>9}{'ready s':>9}")
    for name, results in rows.items():
        for r in results:
            print(
                f"{name:26}{int(r['failed']):>10}/{int(r['requests']):<7}{r['availability'] * 100:>13.3f}%"
                f"{r['p99']:>9.2f}{r['ready_s']:>9.2f}"
            )


if __name__ == "__main__":
    main()
