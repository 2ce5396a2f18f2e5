"""Dynamic batching on vs off: the highest Poisson rate that keeps gateway p99 <= 15 ms, same model, same run.

Starts a fresh local platform (1 region x 2 replicas) once with Triton's dynamic batcher on
(max batch 16, 500 us queue delay) and once with it off, sweeps the open-loop arrival rate upward
until p99 through the gateway exceeds the bound, and prints both sweeps side by side with the ratio
of the highest passing rates. The load generator shares the machine; its CPU is printed.

    python benchmarks/batching.py [--rates 100,200,...] [--seconds 8] [--bound-ms 15]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from resilience.load import LoadGenerator, LoadSpec
from resilience.model import merge_latency
from resilience.targets import lifecycle

PAYLOAD = Path(__file__).resolve().parents[1] / "reference_platform" / "model" / "samples.npy"


def sweep(queue_delay_us: int, rates: list[float], seconds: float, bound_ms: float, work: Path) -> list[dict]:
    state = work / f"state-{queue_delay_us}"
    config = work / f"platform-{queue_delay_us}.yaml"
    config.write_text(f"serving:\n  queue_delay_us: {queue_delay_us}\n")
    platform = lifecycle.up(state, config=config)
    rows = []
    try:
        for rate in rates:
            spec = LoadSpec(rate=rate, warmup_s=2, max_duration_s=seconds + 30, concurrency=256)
            gen = LoadGenerator(
                spec,
                target=platform.gateway_http,
                payload=PAYLOAD,
                model=platform.model,
                input_name="images",
                log_path=work / "locust.log",
            )
            gen.start()
            t0 = time.time()
            time.sleep(seconds)
            summary = gen.stop()
            slices = [s for s in gen.slices() if s.start >= t0]
            hist = merge_latency(slices)
            total = sum(s.total for s in slices)
            p99 = hist.percentile_ms(99)
            ok = p99 is not None and p99 <= bound_ms and sum(s.failed for s in slices) == 0
            rows.append(
                {
                    "rate": rate,
                    "achieved": total / seconds,
                    "p50": hist.percentile_ms(50),
                    "p99": p99,
                    "failed": sum(s.failed for s in slices),
                    "gen_cpu": summary.generator_cpu_s,
                    "ok": ok,
                }
            )
            if not ok:
                break
    finally:
        lifecycle.down(state)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="100,200,300,400,500,600,700,800,1000")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--bound-ms", type=float, default=15.0)
    p.add_argument("--delays-us", default="500", help="batcher queue delays to compare with batching off")
    args = p.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        configs = [(f"batching on ({int(d)} us)", int(d)) for d in args.delays_us.split(",")]
        results = {
            name: sweep(delay, rates, args.seconds, args.bound_ms, Path(tmp))
            for name, delay in (*configs, ("batching off", 0))
        }
    print(f"open-loop Poisson through the gateway, {args.seconds:g} s per rate, bound p99 <= {args.bound_ms:g} ms")
    print(f"{'rate':>6} | " + " | ".join(f"{name:^40}" for name in results))
    print(
        f"{'':>6} | " + " | ".join(f"{'achieved':>9} {'p50':>7} {'p99':>7} {'fail':>5} {'gen cpu':>7}" for _ in results)
    )
    for i, rate in enumerate(rates):
        cells = []
        for rows in results.values():
            if i < len(rows):
                r = rows[i]
                cells.append(
                    f"{r['achieved']:>9.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['failed']:>5} "
                    f"{r['gen_cpu'] or 0:>7.1f}" + ("" if r["ok"] else " X")
                )
            else:
                cells.append(" " * 40)
        if any(c.strip() for c in cells):
            print(f"{rate:>6.0f} | " + " | ".join(cells))
    best = {name: max((r["rate"] for r in rows if r["ok"]), default=0.0) for name, rows in results.items()}
    off = best["batching off"]
    print("highest rate with p99 <= bound: " + ", ".join(f"{k}: {v:.0f} req/s" for k, v in best.items()))
    for name, rate in best.items():
        if name != "batching off" and off:
            print(f"  {name} / off: {rate / off:.2f}x")


if __name__ == "__main__":
    main()
