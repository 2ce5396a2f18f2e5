"""The vision pipeline around inference: cameras -> preprocessing -> (gateway, inference) -> results sink.

Each stage is its own process ("pod"), supervised like the replicas:

    python -m reference_platform.pipeline cameras    --port P --out tcp://127.0.0.1:Q [--cameras 4 --fps 5]
    python -m reference_platform.pipeline preprocess --port P --in-port Q --out tcp://127.0.0.1:R --gateway H:P
    python -m reference_platform.pipeline sink       --port P --in-port R

- **cameras**: N simulated conveyor-belt cameras, each publishing 128x128 RGB frames of parts at `fps`
  in a framed format with a CRC32 (`QCF1` header). `POST /control` changes fps, the defect rate, the
  share of corrupted frames, or stalls cameras at run time (for faults and game days).
- **preprocessing**: decodes and integrity-checks each frame (magic, length, CRC, shape: a corrupted
  or truncated frame is counted by reason and skipped, never crashes the stage), resizes 128 -> 64 by
  2x2 area averaging, sends it to the gateway (KServe v2), forwards the prediction.
- **sink**: end-to-end latency from capture, per-camera throughput, defect ratio, and a prediction
  drift monitor: PSI of the defect-probability distribution, recent window vs a reference window.

Stages are joined by ZeroMQ PUSH/PULL with small high-water marks and bounded in-process queues:
when inference falls behind, the queues fill, the cameras' sends would block, and frames are dropped
at the source and counted (backpressure), instead of memory growing without bound.
Every stage serves `/metrics` (Prometheus) and `/healthz` on its port.
Stages bind 127.0.0.1 unless `--host` says otherwise (0.0.0.0 in a container, where peers are other pods).

This module is the command line; the stages are `pipeline_cameras`, `pipeline_preprocess` and
`pipeline_sink`, the frame format and its checks `pipeline_frames`, what every stage shares `pipeline_stage`.
"""

from __future__ import annotations

import argparse
import logging

from prometheus_client import CollectorRegistry

from reference_platform.pipeline_cameras import Cameras, _corrupt
from reference_platform.pipeline_frames import FRAME_SIZE, HEADER, MAGIC, FrameError, decode_frame, encode_frame
from reference_platform.pipeline_preprocess import Preprocess, resize_half
from reference_platform.pipeline_sink import Sink, psi
from reference_platform.pipeline_stage import HWM, LATENCY_BUCKETS, serve

__all__ = [
    "FRAME_SIZE",
    "HEADER",
    "HWM",
    "LATENCY_BUCKETS",
    "MAGIC",
    "Cameras",
    "FrameError",
    "Preprocess",
    "Sink",
    "_corrupt",
    "decode_frame",
    "encode_frame",
    "main",
    "psi",
    "resize_half",
    "serve",
]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="reference_platform.pipeline", description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=["cameras", "preprocess", "sink"])
    p.add_argument("--port", type=int, required=True, help="HTTP port for /metrics, /healthz (and /control)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the HTTP server and the ZeroMQ input bind (0.0.0.0 in a container)",
    )
    p.add_argument("--out", help="ZeroMQ endpoint of the next stage")
    p.add_argument("--in-port", type=int, help="port to receive frames or results on")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--fps", type=float, default=5.0, help="frames per second per camera")
    p.add_argument("--defect-rate", type=float, default=0.5)
    p.add_argument("--corrupt-ratio", type=float, default=0.0)
    p.add_argument("--gateway", help="host:port of the KServe v2 gateway")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--reference", type=int, default=250, help="predictions in the drift reference window")
    p.add_argument("--window", type=int, default=250, help="predictions in the drift comparison window")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.stage} %(levelname)s %(message)s")
    registry = CollectorRegistry()
    if args.stage == "cameras":
        cams = Cameras(args.cameras, args.fps, args.defect_rate, args.corrupt_ratio, registry)
        serve(args.port, registry, cams.control, args.host)
        cams.run(args.out)
    elif args.stage == "preprocess":
        pre = Preprocess(args.gateway, args.workers, registry)
        serve(args.port, registry, pre.control, args.host)
        pre.run(args.in_port, args.out, args.host)
    else:
        sink = Sink(args.reference, args.window, registry)
        serve(args.port, registry, host=args.host)
        sink.run(args.in_port, args.host)


if __name__ == "__main__":
    main()
