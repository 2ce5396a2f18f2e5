"""Cold vs warm restart of a SIGKILLed replica: time to ready again, and its first request vs steady p99.

Runs the platform twice (1 region x 2 replicas): without warm spares (the replica reboots:
tritonserver, model load) and with `serving.warm_spares: 1` (a booted standby takes over). Each time it
kills replica a-0 `--kills` times under 100 req/s of open-loop load, waits for the replacement, then
times one request sent straight to it (its first) and `--requests` more (the steady p99).
Target (issue 3): first request <= ~2x steady p99; time to ready reported for both.

    python benchmarks/restart.py [--kills 3] [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tritonclient.http as triton_http

from resilience.faults import FaultContext, PodKill, Selector
from resilience.load import LoadGenerator, LoadSpec
from resilience.targets import lifecycle

SAMPLES = Path(__file__).resolve().parents[1] / "reference_platform" / "model" / "samples.npy"


def first_and_p99(port: int, n: int) -> tuple[float, float]:
    client = triton_http.InferenceServerClient(f"127.0.0.1:{port}")
    inp = triton_http.InferInput("images", [1, 64, 64, 3], "UINT8")
    inp.set_data_from_numpy(np.load(SAMPLES)[:1])
    t = time.perf_counter()
    client.infer("qc_cnn", [inp])
    first = (time.perf_counter() - t) * 1000
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        client.infer("qc_cnn", [inp])
        lat.append((time.perf_counter() - t) * 1000)
    return first, sorted(lat)[int(0.99 * n) - 1]


def run(spares: int, kills: int, n: int, work: Path) -> list[dict[str, float]]:
    config = work / f"platform-{spares}.yaml"
    config.write_text(f"serving:\n  warm_spares: {spares}\n")
    state = work / f"state-{spares}"
    platform = lifecycle.up(state, config=config)
    gen = LoadGenerator(
        LoadSpec(rate=100, warmup_s=1, max_duration_s=600),
        target=platform.gateway_http,
        payload=SAMPLES,
        model=platform.model,
        input_name="images",
        log_path=work / "locust.log",
    )
    rows = []
    try:
        gen.start()
        for _ in range(kills):
            time.sleep(8 if spares else 2)  # let a new spare boot between kills
            records: list = []  # type: ignore[type-arg]
            (record,) = PodKill(Selector(role="inference", count=1)).inject(FaultContext(platform, records))
            pod = next(p for p in platform.status()["pods"] if p["name"] == "a-0")
            first, p99 = first_and_p99(pod["http_port"], n)
            rows.append({"ready_s": record.evidence["time_to_ready_s"], "first_ms": first, "p99_ms": p99})
            time.sleep(31)  # let the restart backoff reset, so every kill is a first restart
        summary = gen.stop()
        rows.append({"failed": float(summary.failures), "requests": float(summary.requests)})
    finally:
        if gen.running:
            gen.stop()
        lifecycle.down(state)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--requests", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            name: run(spares, args.kills, args.requests, Path(tmp))
            for name, spares in (("cold (reboot)", 0), ("warm (spare takes over)", 1))
        }
    print(f"SIGKILL of replica a-0 x{args.kills} under 100 req/s; medians; p99 over {args.requests} direct requests")
    print(f"{'':26}{'ready s':>9}{'first ms':>10}{'p99 ms':>9}{'first/p99':>11}{'failed/requests':>17}")
    for name, rows in results.items():
        *kills, load = rows
        med = {k: statistics.median(r[k] for r in kills) for k in kills[0]}
        print(
            f"{name:26}{med['ready_s']:>9.2f}{med['first_ms']:>10.2f}{med['p99_ms']:>9.2f}"
            f"{med['first_ms'] / med['p99_ms']:>11.2f}{int(load['failed']):>10}/{int(load['requests'])}"
        )


if __name__ == "__main__":
    main()
