"""Latency through the gateway vs straight to one replica, open-loop Poisson load, same run.

Starts the local platform (unless one is running), sends `--rate` req/s for `--seconds` to the
gateway and then to one replica directly, and prints p50/p90/p99/p99.9 side by side with the ratio.
Target (issue 2): gateway p99 <= 15 ms at 100 req/s on a 2-core box with the generator on the box.

    python benchmarks/gateway_latency.py [--rate 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from resilience.load import LoadGenerator, LoadSpec
from resilience.slo import merge_lag, merge_latency
from resilience.targets import default_state_dir, lifecycle

PAYLOAD = Path(__file__).resolve().parents[1] / "reference_platform" / "model" / "samples.npy"


def measure(target: str, model: str, rate: float, seconds: float, work: Path) -> dict[str, float | None]:
    spec = LoadSpec(rate=rate, warmup_s=2, max_duration_s=seconds + 30)
    gen = LoadGenerator(
        spec,
        target=target,
        payload=PAYLOAD,
        model=model,
        input_name="images",
        log_path=work / f"locust-{target.replace(':', '_')}.log",
    )
    gen.start()
    t0 = gen.started_at or 0.0
    import time

    time.sleep(seconds)
    summary = gen.stop()
    slices = [s for s in gen.slices() if s.start >= t0 + spec.warmup_s]
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
        "gen cpu s": summary.generator_cpu_s,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    state_dir = default_state_dir()
    started_here = lifecycle.running(state_dir) is None
    platform = lifecycle.up(state_dir)
    try:
        pod = platform.pods()[0]
        status = platform.status()
        replica_port = next(p["http_port"] for p in status["pods"] if p["name"] == pod.name)
        with tempfile.TemporaryDirectory() as tmp:
            rows = {
                "gateway (HAProxy, 2 replicas)": measure(
                    platform.gateway_http, platform.model, args.rate, args.seconds, Path(tmp)
                ),
                f"direct to replica {pod.name}": measure(
                    f"127.0.0.1:{replica_port}", platform.model, args.rate, args.seconds, Path(tmp)
                ),
            }
    finally:
        if started_here:
            lifecycle.down(state_dir)
    keys = list(next(iter(rows.values())))
    print(f"open-loop Poisson {args.rate:g} req/s, {args.seconds:g} s each (latency from intended send time, ms)")
    print(f"{'':32}" + "".join(f"{k:>11}" for k in keys))
    for name, row in rows.items():
        print(f"{name:32}" + "".join(f"{(v if v is not None else float('nan')):>11.2f}" for v in row.values()))
    g, d = rows.values()
    if g["p99"] and d["p99"]:
        print(
            f"gateway/direct p99 ratio: {g['p99'] / d['p99']:.2f}; target gateway p99 <= 15 ms: "
            f"{'MET' if g['p99'] <= 15 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
