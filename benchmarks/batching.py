"""Dynamic batching on vs off: the highest Poisson rate that keeps gateway p99 <= 15 ms, same model, same run.

Starts a fresh local platform (1 region x 2 replicas) once per setting — Triton's dynamic batcher on with
each `--delays-us` queue delay (0: batch only what queued while the model ran), and off — and runs the
capacity search of `resilience platform capacity` (50, 75, 100, 150, 200 ... req/s, >= `--step-s` a rate,
until p99 through the gateway breaks the bound), then prints the ladders side by side and the ratio of the
highest holding rates. The load generator shares the machine.

    python benchmarks/batching.py [--delays-us 0,500] [--step-s 5] [--bound-ms 15]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from resilience.engine.capacity import measure_capacity
from resilience.load import DEFAULT_INPUT, DEFAULT_PAYLOAD
from resilience.model.capacity import Capacity
from resilience.targets import lifecycle


def sweep(name: str, serving: str, step_s: float, bound_ms: float, work: Path) -> Capacity:
    state = work / f"state-{name}"
    config = work / f"platform-{name}.yaml"
    config.write_text(f"serving:\n{serving}")
    platform = lifecycle.up(state, config=config)
    try:
        return measure_capacity(
            target=platform.gateway_http,
            model=platform.model,
            input_name=DEFAULT_INPUT,
            payload=DEFAULT_PAYLOAD,
            objective_ms=bound_ms,
            work_dir=work,
            step_s=step_s,
        )
    finally:
        lifecycle.down(state)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--step-s", type=float, default=5.0)
    p.add_argument("--bound-ms", type=float, default=15.0)
    p.add_argument("--delays-us", default="0,500", help="batcher queue delays to compare with batching off")
    args = p.parse_args()
    settings = {f"on, delay {int(d)} us": f"  queue_delay_us: {int(d)}\n" for d in args.delays_us.split(",")}
    settings["off"] = "  dynamic_batching: false\n"
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            name: sweep(str(i), s, args.step_s, args.bound_ms, Path(tmp))
            for i, (name, s) in enumerate(settings.items())
        }
    print(
        f"open-loop Poisson through the gateway, {args.step_s:g} s per rate, p50 / p99 ms (X: over {args.bound_ms:g} ms)"
    )
    print(f"{'rate':>6} | " + " | ".join(f"{name:^22}" for name in results))
    rates = sorted({s.rate for cap in results.values() for s in cap.steps})
    for rate in rates:
        cells = []
        for cap in results.values():
            step = next((s for s in cap.steps if s.rate == rate), None)
            cells.append(
                f"{step.p50_ms or 0:>9.2f} {step.latency_ms or 0:>9.2f}" + ("  " if step.holds else " X")
                if step
                else " " * 22
            )
        print(f"{rate:>6.0f} | " + " | ".join(cells))
    best = {name: cap.held_rps or 0.0 for name, cap in results.items()}
    print("highest rate with p99 <= bound: " + ", ".join(f"{k}: {v:.0f} req/s" for k, v in best.items()))
    for name, rate in best.items():
        if name != "off" and best["off"]:
            print(f"  {name} / off: {rate / best['off']:.2f}x")


if __name__ == "__main__":
    main()
