"""Latency through the gateway vs straight to the replicas, same replicas, same rate each, same run.

Starts the local platform (unless one is running; `--replicas` replicas), then sends open-loop Poisson
load for `--seconds`, twice:
- through the gateway at `--rate` req/s (HAProxy spreads it over the N replicas: ~rate/N each);
- straight to each of the same N replicas at `--rate`/N req/s at once (one generator per replica; the
  merged arrivals are again Poisson at `--rate`), merged into one histogram.
Both rows therefore load every replica alike; the difference is the gateway hop. With `--replicas 1`
it is one replica through the gateway vs the same replica directly, from one generator each time.
Prints p50/p90/p99/p99.9 side by side with the ratio.
Target (issue 2): gateway p99 <= 15 ms at 100 req/s on a 2-core box with the generator on the box.

    python benchmarks/gateway_latency.py [--rate 100] [--seconds 20] [--replicas 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from resilience.load import LoadGenerator, LoadSpec
from resilience.model import Slice
from resilience.slo import merge_lag, merge_latency
from resilience.targets import default_state_dir, lifecycle

PAYLOAD = Path(__file__).resolve().parents[1] / "reference_platform" / "model" / "samples.npy"


def measure(targets: list[str], model: str, rate: float, seconds: float, work: Path) -> dict[str, float | None]:
    """`rate` req/s in all, split evenly over `targets` (one generator each, all at once), merged."""
    spec = LoadSpec(rate=rate / len(targets), warmup_s=2, max_duration_s=seconds + 30)
    gens = [
        LoadGenerator(
            spec,
            target=target,
            payload=PAYLOAD,
            model=model,
            input_name="images",
            log_path=work / f"locust-{target.replace(':', '_')}.log",
        )
        for target in targets
    ]
    for gen in gens:
        gen.start(ready_timeout_s=60)  # each start includes its own warm-up
    t0 = max(gen.started_at or 0.0 for gen in gens) + spec.warmup_s
    time.sleep(seconds)
    t1 = time.time()  # generators stop one after the other: keep only the time all of them sent
    summaries = [gen.stop() for gen in gens]
    slices: list[Slice] = [s for gen in gens for s in gen.slices() if s.start >= t0 and s.end <= t1]
    h = merge_latency(slices)
    return {
        "requests": sum(s.total for s in slices),
        "failed": sum(s.failed for s in slices),
        "p50": h.percentile_ms(50),
        "p90": h.percentile_ms(90),
        "p99": h.percentile_ms(99),
        "p99.9": h.percentile_ms(99.9),
        "max": h.percentile_ms(100),
        "lag p99": merge_lag(slices).percentile_ms(99),
        "gen cpu s": sum(s.generator_cpu_s or 0.0 for s in summaries),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--replicas", type=int, default=2, help="replicas of a platform started here (else as running)")
    args = p.parse_args()
    state_dir = default_state_dir()
    started_here = lifecycle.running(state_dir) is None
    platform = lifecycle.up(state_dir, replicas=args.replicas if started_here else None)
    try:
        region = platform.status()["regions"][0]  # the callers' default region: what the gateway serves
        pods = [p for p in platform.select(role="inference", region=region) if p.ready and p.http_port]
        replicas = [f"{p.host}:{p.http_port}" for p in pods]
        n = len(replicas)
        with tempfile.TemporaryDirectory() as tmp:
            rows = {
                f"gateway (HAProxy, {n} replica{'s' if n != 1 else ''})": measure(
                    [platform.gateway_http], platform.model, args.rate, args.seconds, Path(tmp)
                ),
                f"direct, {n} x {args.rate / n:g} req/s": measure(
                    replicas, platform.model, args.rate, args.seconds, Path(tmp)
                ),
            }
    finally:
        if started_here:
            lifecycle.down(state_dir)
    keys = list(next(iter(rows.values())))
    print(
        f"open-loop Poisson {args.rate:g} req/s in all, {args.seconds:g} s each, replicas "
        f"{', '.join(p.name for p in pods)} (latency from intended send time, ms)"
    )
    print(f"{'':32}" + "".join(f"{k:>11}" for k in keys))
    for name, row in rows.items():
        print(f"{name:32}" + "".join(f"{(v if v is not None else float('nan')):>11.2f}" for v in row.values()))
    g, d = rows.values()
    if g["p50"] and d["p50"] and g["p99"] and d["p99"]:
        print(
            f"gateway - direct: p50 {g['p50'] - d['p50']:+.2f} ms, p99 {g['p99'] - d['p99']:+.2f} ms; "
            f"gateway/direct p99 ratio: {g['p99'] / d['p99']:.2f}; target gateway p99 <= 15 ms: "
            f"{'MET' if g['p99'] <= 15 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
