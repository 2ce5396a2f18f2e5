"""The serving path, before and after, side by side in one run: PyTriton vs a bare tritonserver.

Starts, one after the other on this box, three set-ups of 2 replicas behind the platform's HAProxy gateway
(same config generator, same generator process, same payload):

- `pytriton + wide model`: the former serving path (benchmarks/pytriton_replica.py: PyTriton's Python
  process proxying to its tritonserver, onnxruntime in that Python process) with the former model
  (benchmarks/models/qc_cnn-wide.onnx, 0.23 GFLOP);
- `pytriton + qc_cnn v1`: the same path with today's model, to separate what the model buys from what the
  path buys;
- `tritonserver + qc_cnn v1`: today's replica (reference_platform/replica.py: tritonserver serving the model
  repository through the onnxruntime_python backend, no Python process of ours in the request path).

For each: the model's own cost (onnxruntime, one thread, batch 1), boot time to a served inference,
300 sequential requests straight to one replica (p50/p99), 100 req/s Poisson through the gateway for
`--seconds` (p50/p99), and the capacity search of `resilience platform capacity` (highest Poisson rate with
gateway p99 <= `--objective-ms`). Ratios are printed against the first row.

    python benchmarks/serving_path.py [--seconds 20] [--objective-ms 15] [--only tritonserver]
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from reference_platform import gateway, probes
from reference_platform.model import INPUT_NAME, MODEL_NAME, ONNX_PATH, SAMPLES_PATH
from reference_platform.pods import ReplicaPod, child_env, clean_workspace, free_port, stop_group
from resilience.engine.capacity import measure_capacity
from resilience.load import LoadGenerator, LoadSpec
from resilience.model import merge_lag, merge_latency

HERE = Path(__file__).resolve().parent
WIDE = HERE / "models" / "qc_cnn-wide.onnx"
SETUPS = {
    "pytriton + wide model": ("pytriton", WIDE),
    "pytriton + qc_cnn v1": ("pytriton", ONNX_PATH),
    "tritonserver + qc_cnn v1": ("tritonserver", ONNX_PATH),
}


def model_ms(path: Path, n: int = 200) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = np.load(SAMPLES_PATH)[:1]
    session.run(None, {INPUT_NAME: x})
    t0 = time.perf_counter()
    for _ in range(n):
        session.run(None, {INPUT_NAME: x})
    return (time.perf_counter() - t0) / n * 1000


def start_replica(kind: str, model: Path, pod: ReplicaPod, work: Path, log: Path) -> subprocess.Popen[bytes]:
    common = ["--name", pod.name, "--http-port", str(pod.http_port), "--grpc-port", str(pod.grpc_port)]
    common += ["--metrics-port", str(pod.metrics_port), "--workspace", str(work / pod.name)]
    if kind == "pytriton":
        cmd = [sys.executable, str(HERE / "pytriton_replica.py"), *common, "--model-path", str(model)]
    else:
        cmd = [sys.executable, "-m", "reference_platform.replica", *common]
    with log.open("ab") as logf:
        return subprocess.Popen(
            cmd, stdout=logf, stderr=subprocess.STDOUT, env=child_env("bench"), start_new_session=True
        )


def wait_served(pod: ReplicaPod, timeout_s: float = 120.0) -> None:
    body = probes.probe_body()
    deadline = time.monotonic() + timeout_s
    while probes.probe(pod, 1.0, body) != (True, True):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pod.name} not serving after {timeout_s:.0f} s")
        time.sleep(0.05)


def sequential(port: int, n: int = 300) -> tuple[float, float]:
    body = probes.probe_body()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    times = []
    for i in range(n + 20):
        t0 = time.perf_counter()
        conn.request("POST", f"/v2/models/{MODEL_NAME}/infer", body=body.body, headers=body.headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"inference answered {resp.status}")
        if i >= 20:
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[n // 2], times[int(n * 0.99)]


def poisson(target: str, rate: float, seconds: float, work: Path) -> dict[str, float | None]:
    spec = LoadSpec(rate=rate, warmup_s=2, max_duration_s=seconds + 30)
    gen = LoadGenerator(
        spec, target=target, payload=SAMPLES_PATH, model=MODEL_NAME, input_name=INPUT_NAME, log_path=work / "load.log"
    )
    gen.start()
    t0 = time.time()
    slices = [s for s in gen.wait_until(t0 + seconds) if s.start >= t0]
    gen.stop()
    h = merge_latency(slices)
    return {
        "p50": h.percentile_ms(50),
        "p99": h.percentile_ms(99),
        "failed": sum(s.failed for s in slices),
        "lag p99": merge_lag(slices).percentile_ms(99),
    }


def measure(kind: str, model: Path, seconds: float, objective_ms: float, work: Path) -> dict[str, float | None]:
    pods = [ReplicaPod.replica(f"a-{i}", "a") for i in range(2)]
    cfg = work / "haproxy.cfg"
    http_port, grpc_port = free_port(), free_port()
    cfg.write_text(
        gateway.render_config(
            http_port=http_port,
            grpc_port=grpc_port,
            stats_port=free_port(),
            socket_path=work / "haproxy.sock",
            backends=[gateway.Backend(p.name, p.region, p.http_port, p.grpc_port) for p in pods],
            regions=["a"],
        )
    )
    t0 = time.monotonic()
    procs = [start_replica(kind, model, p, work, work / "replicas.log") for p in pods]
    haproxy = subprocess.Popen(
        [gateway.haproxy_binary(), "-db", "-f", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for pod in pods:
            wait_served(pod)
        boot = time.monotonic() - t0
        seq50, seq99 = sequential(pods[0].http_port)
        load = poisson(f"127.0.0.1:{http_port}", 100.0, seconds, work)
        cap = measure_capacity(
            target=f"127.0.0.1:{http_port}",
            model=MODEL_NAME,
            input_name=INPUT_NAME,
            payload=SAMPLES_PATH,
            objective_ms=objective_ms,
            work_dir=work,
        )
    finally:
        for pod, proc in zip(pods, procs, strict=True):
            stop_group(proc, grace_s=8)
            pod.proc, pod.workspace = proc, work / pod.name
            clean_workspace(pod)
        stop_group(haproxy, grace_s=3)
    return {
        "model ms": model_ms(model),
        "boot s": boot,
        "seq p50": seq50,
        "seq p99": seq99,
        "100/s p50": load["p50"],
        "100/s p99": load["p99"],
        "failed": load["failed"],
        "capacity": cap.held_rps or 0.0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="length of the 100 req/s run")
    p.add_argument("--objective-ms", type=float, default=15.0, help="the capacity search's p99 bound")
    p.add_argument("--only", choices=["pytriton", "tritonserver"], help="measure one path only")
    args = p.parse_args()
    rows: dict[str, dict[str, float | None]] = {}
    with tempfile.TemporaryDirectory(prefix="rsb-") as tmp:
        for name, (kind, model) in SETUPS.items():
            if args.only and kind != args.only:
                continue
            work = Path(tmp) / kind
            work.mkdir(exist_ok=True)
            rows[name] = measure(kind, model, args.seconds, args.objective_ms, work)
            print(f"measured {name}", file=sys.stderr, flush=True)
    keys = list(next(iter(rows.values())))
    print(
        f"2 replicas behind HAProxy; open-loop Poisson; latency from the intended send time (ms); capacity = "
        f"highest rate with gateway p99 <= {args.objective_ms:g} ms (req/s)"
    )
    print(f"{'':26}" + "".join(f"{k:>11}" for k in keys))
    for name, row in rows.items():
        print(f"{name:26}" + "".join(f"{(v if v is not None else float('nan')):>11.2f}" for v in row.values()))
    if len(rows) > 1:
        first = next(iter(rows.values()))
        for name, row in list(rows.items())[1:]:
            ratios = {
                "seq p50": _ratio(first["seq p50"], row["seq p50"]),
                "100/s p99": _ratio(first["100/s p99"], row["100/s p99"]),
                "capacity": _ratio(row["capacity"], first["capacity"]),
            }
            print(f"{name} vs {next(iter(rows))}: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x better" if a and b else "n/a"


if __name__ == "__main__":
    main()
