"""The former serving path, kept only so that benchmarks/serving_path.py can measure it side by side.

A replica as the platform ran it before it served a standard model repository with a bare tritonserver:
PyTriton (a Python process in the request path, proxying to its bundled tritonserver) and onnxruntime in
that Python process. Run: `python benchmarks/pytriton_replica.py --name a-0 --http-port P --grpc-port P
--metrics-port P --workspace DIR [--model-path X.onnx]`. Speaks the KServe v2 protocol over HTTP and gRPC,
exposes Triton's Prometheus `/metrics` and `/v2/health/{live,ready}`. The model runs in onnxruntime
with one intra-op thread, so several replicas can share a small machine; Triton's dynamic batcher
groups concurrent requests.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import sysconfig
from pathlib import Path

import numpy as np

from reference_platform.model import INPUT_NAME, MODEL_NAME, OUTPUT_NAME
from reference_platform.model.repository import ModelRepository

log = logging.getLogger("benchmarks.pytriton_replica")


def _ensure_libpython_path() -> None:
    """Re-exec with the interpreter's LIBDIR first on LD_LIBRARY_PATH.

    Under a pyenv interpreter, Triton's python-backend stub otherwise loads the system libpython and
    fails at model load (`'_thread.RLock' object has no attribute '_recursion_count'`).
    """
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    current = os.environ.get("LD_LIBRARY_PATH", "")
    if libdir and not current.startswith(libdir):
        os.environ["LD_LIBRARY_PATH"] = f"{libdir}:{current}" if current else libdir
        os.execv(sys.executable, [sys.executable, *sys.argv])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="reference_platform.replica", description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--address", default="127.0.0.1", help="0.0.0.0 inside a region's network namespace")
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--model-version", type=int, default=1, help="version in the model repository")
    p.add_argument("--repository", type=Path, default=None, help="model repository root (default: packaged)")
    p.add_argument("--model-path", type=Path, default=None, help="an ONNX file instead of the repository's")
    p.add_argument("--max-batch-size", type=int, default=16)
    p.add_argument(
        "--queue-delay-us", type=int, default=500, help="dynamic batcher max queue delay; 0 disables batching"
    )
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.add_argument("--workspace", type=Path, required=True, help="a directory that must not exist yet")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    _ensure_libpython_path()
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s replica {args.name} %(levelname)s %(message)s")
    import onnxruntime as ort
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    repository = ModelRepository(args.repository) if args.repository else ModelRepository()
    model_path = args.model_path or repository.path(args.model_version)
    session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    session.run(None, {INPUT_NAME: np.zeros((1, 64, 64, 3), dtype=np.uint8)})  # warm the session

    @batch
    def infer(images: np.ndarray) -> dict[str, np.ndarray]:
        return {OUTPUT_NAME: session.run(None, {INPUT_NAME: images})[0]}

    batcher = DynamicBatcher(max_queue_delay_microseconds=args.queue_delay_us) if args.queue_delay_us > 0 else None
    config = TritonConfig(
        http_address=args.address,
        http_port=args.http_port,
        grpc_address=args.address,
        grpc_port=args.grpc_port,
        metrics_address=args.address,
        metrics_port=args.metrics_port,
        exit_timeout_secs=2,
        # p50/p90/p99 of request latency per model, as Prometheus summaries (the supervisor shows p99)
        metrics_config=["summary_latencies=true", "summary_quantiles=0.5:0.05,0.9:0.01,0.99:0.001"],
        strict_readiness=True,
        log_verbose=0,
    )
    # PyTriton ignores SIGINT when backgrounded; map both to KeyboardInterrupt so serve() returns and
    # the context manager stops tritonserver and cleans its workspace and /dev/shm.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with Triton(config=config, workspace=str(args.workspace)) as triton:
            triton.bind(
                model_name=MODEL_NAME,
                model_version=args.model_version,
                infer_func=infer,
                inputs=[Tensor(name=INPUT_NAME, dtype=np.uint8, shape=(64, 64, 3))],
                outputs=[Tensor(name=OUTPUT_NAME, dtype=np.float32, shape=(2,))],
                config=ModelConfig(max_batch_size=args.max_batch_size, batcher=batcher),  # type: ignore[arg-type]
                strict=True,
            )
            log.info(
                "serving %s v%d on http %d grpc %d metrics %d",
                MODEL_NAME,
                args.model_version,
                args.http_port,
                args.grpc_port,
                args.metrics_port,
            )
            triton.serve()
    except KeyboardInterrupt:
        log.info("stopping")


if __name__ == "__main__":
    main()
