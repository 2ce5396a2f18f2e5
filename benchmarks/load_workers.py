"""One generator process vs Locust's distributed mode (master + 2 workers), side by side, in one run.

Against the calibration server (benchmarks/instant_server.py, in its own process: answers at once), each
configuration sends open-loop Poisson load at rising rates for a few seconds; for each it prints the merged
schedule lag p99, the achieved rate, failures and the generators' CPU. The highest rate with schedule lag
p99 <= 1 ms is each configuration's accurate limit on this box; the last line does the arithmetic for
10,000 req/s.

    .venv/bin/python benchmarks/load_workers.py [--rates 500,1000,2000,3000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import math
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resilience.load import LoadSpec, generator_for  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(target: str, rate: float, workers: int, seconds: float) -> dict[str, float | None]:
    with tempfile.TemporaryDirectory() as tmp:
        gen = generator_for(
            LoadSpec(rate=rate, workers=workers, warmup_s=0, max_duration_s=seconds + 60, concurrency=256),
            target=target,
            payload=ROOT / "reference_platform" / "model" / "samples.npy",
            model="qc_cnn",
            input_name="images",
            log_path=Path(tmp) / "locust.log",
        )
        gen.start()
        try:
            gen.wait_until(time.time() + seconds)
        finally:
            s = gen.stop()
    return {
        "lag_p99_ms": s.schedule_lag_p99_ms,
        "achieved": s.achieved_rps,
        "failures": s.failures,
        "cpu_share": (s.generator_cpu_s or 0) / s.duration_s if s.duration_s else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,1000,2000,3000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--lag-ms", type=float, default=1.0, help="the schedule-lag p99 bound (1 ms: accurate)")
    ns = parser.parse_args()
    rates = [float(r) for r in ns.rates.split(",")]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "instant_server.py"), str(port)], stderr=subprocess.DEVNULL
    )
    time.sleep(0.5)
    try:
        results = {w: {r: measure(f"127.0.0.1:{port}", r, w, ns.seconds) for r in rates} for w in (0, 2)}
    finally:
        server.terminate()
        server.wait(5)
    print(f"{'rate':>7} | {'1 process: lag p99':>18} {'achieved':>9} {'fail':>5} {'CPU':>5} | "
          f"{'2 workers: lag p99':>18} {'achieved':>9} {'fail':>5} {'CPU':>5}")  # fmt: skip
    for r in rates:
        cells = []
        for w in (0, 2):
            m = results[w][r]
            lag = f"{m['lag_p99_ms']:.2f} ms" if m["lag_p99_ms"] is not None else "-"
            cells.append(f"{lag:>18} {m['achieved']:>9.0f} {m['failures']:>5.0f} {m['cpu_share'] or 0:>5.2f}")
        print(f"{r:>7.0f} | {cells[0]} | {cells[1]}")
    bound = ns.lag_ms
    best = {w: max((r for r in rates if (results[w][r]["lag_p99_ms"] or 99) <= bound), default=None) for w in (0, 2)}
    print(f"highest rate with schedule lag p99 <= {bound:g} ms: 1 process {best[0]}, 2 workers {best[2]} (this box)")
    if best[2]:
        per_worker = best[2] / 2
        print(
            f"10,000 req/s at {per_worker:.0f} req/s per worker: {math.ceil(10_000 / per_worker)} workers, "
            "each on a core of its own (plus the master's relay, which does no scheduling)"
        )


if __name__ == "__main__":
    main()
