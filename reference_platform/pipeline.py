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
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import random
import struct
import threading
import time
import zlib
from http.server import ThreadingHTTPServer
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import zmq
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from reference_platform.httpjson import QuietJSONHandler
from reference_platform.model import INPUT_NAME, MODEL_NAME, OUTPUT_NAME
from reference_platform.model.data import generate

log = logging.getLogger("reference_platform.pipeline")

MAGIC = b"QCF1"
HEADER = struct.Struct("<4sHIdHHBI")  # magic, camera, seq, capture time, h, w, c, crc32 of the payload
FRAME_SIZE = 128
HWM = 16
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class FrameError(ValueError):
    """A frame failed an integrity check; `reason` is the metric label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode_frame(camera: int, seq: int, captured: float, image: npt.NDArray[np.uint8]) -> bytes:
    payload = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    h, w, c = image.shape
    return HEADER.pack(MAGIC, camera, seq, captured, h, w, c, zlib.crc32(payload)) + payload


def decode_frame(data: bytes) -> tuple[int, int, float, npt.NDArray[np.uint8]]:
    """Parse and check a frame. Raises FrameError(reason) for anything but a whole, intact frame."""
    if len(data) < HEADER.size:
        raise FrameError("truncated")
    magic, camera, seq, captured, h, w, c, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FrameError("bad-magic")
    payload = data[HEADER.size :]
    if len(payload) != h * w * c:
        raise FrameError("truncated")
    if zlib.crc32(payload) != crc:
        raise FrameError("checksum")
    if (h, w, c) != (FRAME_SIZE, FRAME_SIZE, 3):
        raise FrameError("shape")
    return camera, seq, captured, np.frombuffer(payload, dtype=np.uint8).reshape(h, w, c)


def resize_half(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """128x128 -> 64x64 by averaging each 2x2 block (area interpolation)."""
    h, w, c = image.shape
    small: npt.NDArray[np.uint8] = image.reshape(h // 2, 2, w // 2, 2, c).mean(axis=(1, 3)).round().astype(np.uint8)
    return small


def psi(
    reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64], bins: int = 10, floor: float = 0.01
) -> float:
    """Population stability index of two samples of probabilities in [0, 1] (equal-width bins).

    Each bin's share is floored at `floor`: with the usual 1e-4, a bin that happens to be empty in a
    window of a few hundred predictions inflates PSI on its own. Measured on this model's outputs, two
    250-prediction windows of the same stream: p99 PSI 0.28 with 1e-4 (2% false alarms at 0.25) and
    0.13 with 0.01 (none), while a defect-rate shift from 0.5 to 0.8 still scores >= 0.17 (p1).
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    ref = np.histogram(np.clip(reference, 0, 1), edges)[0] / max(len(reference), 1)
    cur = np.histogram(np.clip(current, 0, 1), edges)[0] / max(len(current), 1)
    ref, cur = np.clip(ref, floor, None), np.clip(cur, floor, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


# -- the HTTP side every stage shares --------------------------------------------------------------
def serve(port: int, registry: CollectorRegistry, control: Any = None, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    class Handler(QuietJSONHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            if self.path == "/metrics":
                self._send(200, generate_latest(registry), "text/plain; version=0.0.4")
            elif self.path == "/healthz":
                self._send(200, b'{"ok": true}')
            else:
                self._send(404, b"{}")

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            if self.path != "/control" or control is None:
                self._send(404, b"{}")
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                self._send(200, json.dumps(control(body)).encode())
            except (ValueError, TypeError) as exc:
                self._send(400, json.dumps({"error": str(exc)}).encode())

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# -- cameras --------------------------------------------------------------------------------------
class Cameras:
    def __init__(self, n: int, fps: float, defect_rate: float, corrupt_ratio: float, registry: CollectorRegistry):
        self.n, self.fps, self.defect_rate, self.corrupt_ratio = n, fps, defect_rate, corrupt_ratio
        self.stalled: set[int] = set()
        self.lock = threading.Lock()
        self.sent = Counter("pipeline_camera_frames_sent", "Frames published", ["camera"], registry=registry)
        self.dropped = Counter(
            "pipeline_camera_frames_dropped", "Frames dropped at the source", ["reason"], registry=registry
        )
        self.corrupted = Counter("pipeline_camera_frames_corrupted", "Frames deliberately corrupted", registry=registry)
        self.fps_gauge = Gauge("pipeline_camera_fps", "Configured frames per second per camera", registry=registry)
        self.fps_gauge.set(fps)

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        allowed = {"fps", "defect_rate", "corrupt_ratio", "stalled"}
        unknown = set(body) - allowed
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; use {sorted(allowed)}")
        with self.lock:
            if "fps" in body:
                self.fps = float(body["fps"])
                self.fps_gauge.set(self.fps)
            if "defect_rate" in body:
                self.defect_rate = float(body["defect_rate"])
            if "corrupt_ratio" in body:
                self.corrupt_ratio = float(body["corrupt_ratio"])
            if "stalled" in body:
                self.stalled = {int(c) for c in body["stalled"]}
            return {
                "fps": self.fps,
                "defect_rate": self.defect_rate,
                "corrupt_ratio": self.corrupt_ratio,
                "stalled": sorted(self.stalled),
            }

    def run(self, out: str) -> None:
        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, HWM)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(out)
        rng = random.Random()
        seq = [0] * self.n
        next_at = [time.monotonic() + i / max(self.fps * self.n, 1e-9) for i in range(self.n)]
        pool_seed = 0
        while True:
            cam = min(range(self.n), key=lambda i: next_at[i])
            time.sleep(max(0.0, next_at[cam] - time.monotonic()))
            with self.lock:
                fps, defect_rate, corrupt, stalled = self.fps, self.defect_rate, self.corrupt_ratio, cam in self.stalled
            next_at[cam] += 1.0 / fps if fps > 0 else 1.0
            if stalled or fps <= 0:
                continue
            pool_seed += 1
            image, _ = generate(1, seed=pool_seed, defect_rate=defect_rate)
            frame = encode_frame(cam, seq[cam], time.time(), image[0].repeat(2, axis=0).repeat(2, axis=1))
            seq[cam] += 1
            if rng.random() < corrupt:
                frame = _corrupt(frame, rng)
                self.corrupted.inc()
            try:
                sock.send(frame, zmq.NOBLOCK)
                self.sent.labels(str(cam)).inc()
            except zmq.Again:
                self.dropped.labels("backpressure").inc()


def _corrupt(frame: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(3)
    if kind == 0:  # truncated in transit
        return frame[: rng.randrange(len(frame) // 2)]
    data = bytearray(frame)
    if kind == 1:  # flipped bits in the payload
        for _ in range(8):
            data[rng.randrange(HEADER.size, len(data))] ^= 0xFF
    else:  # garbage header
        data[0:4] = b"XXXX"
    return bytes(data)


# -- preprocessing ----------------------------------------------------------------------------------
class Preprocess:
    def __init__(self, gateway: str, workers: int, registry: CollectorRegistry) -> None:
        self.gateway, self.workers = gateway, workers
        self.inbox: queue.Queue[bytes] = queue.Queue(maxsize=32)
        self.outbox: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=64)
        self.received = Counter("pipeline_preprocess_frames_received", "Frames received", registry=registry)
        self.rejected = Counter(
            "pipeline_preprocess_frames_rejected", "Frames failing an integrity check", ["reason"], registry=registry
        )
        self.processed = Counter(
            "pipeline_preprocess_frames_processed", "Frames inferred and forwarded", registry=registry
        )
        self.errors = Counter(
            "pipeline_preprocess_inference_errors", "Inference requests that failed", registry=registry
        )
        self.queue_depth = Gauge("pipeline_preprocess_queue_depth", "Frames waiting for a worker", registry=registry)
        self.queue_latency = Histogram(
            "pipeline_preprocess_queue_seconds", "Capture to dequeue", registry=registry, buckets=LATENCY_BUCKETS
        )
        self.infer_latency = Histogram(
            "pipeline_preprocess_inference_seconds", "Inference round trip", registry=registry, buckets=LATENCY_BUCKETS
        )

        # shadow traffic: a copy of each frame to another model version, compared and never used
        self.shadow: str | None = None
        self.shadow_queue: queue.Queue[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]] = queue.Queue(maxsize=32)
        self.shadow_requests = Counter("pipeline_shadow_requests", "Frames mirrored to the shadow", registry=registry)
        self.shadow_errors = Counter("pipeline_shadow_errors", "Mirrored requests that failed", registry=registry)
        self.shadow_dropped = Counter(
            "pipeline_shadow_dropped", "Frames not mirrored: shadow queue full", registry=registry
        )
        self.shadow_agree = Counter(
            "pipeline_shadow_agreements", "Shadow answers with the same class", registry=registry
        )
        self.shadow_diff = Histogram(
            "pipeline_shadow_abs_diff",
            "max |p_shadow - p_primary|",
            registry=registry,
            buckets=(1e-4, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0),
        )
        self.shadow_latency = Histogram(
            "pipeline_shadow_inference_seconds", "Shadow round trip", registry=registry, buckets=LATENCY_BUCKETS
        )

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        unknown = set(body) - {"shadow"}
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; use ['shadow']")
        if "shadow" in body:
            self.shadow = body["shadow"] or None
        return {"shadow": self.shadow}

    def _shadow_work(self) -> None:

        clients: dict[str, Any] = {}
        while True:
            image, primary = self.shadow_queue.get()
            target = self.shadow
            if target is None:
                continue
            client = clients.get(target) or clients.setdefault(target, _client(target))
            started = time.perf_counter()
            try:
                probs = _classify(client, image)
            except Exception:  # noqa: BLE001 - a failing shadow is measured, and never reaches a user
                self.shadow_errors.inc()
                continue
            self.shadow_latency.observe(time.perf_counter() - started)
            self.shadow_diff.observe(float(np.abs(probs - primary).max()))
            # agreements first: a /metrics read between the two increments must not show a disagreement
            # that never happened (it read 43 agreements of 44 requests once)
            if int(probs.argmax()) == int(primary.argmax()):
                self.shadow_agree.inc()
            self.shadow_requests.inc()

    def run(self, in_port: int, out: str, host: str = "127.0.0.1") -> None:
        threading.Thread(target=self._shadow_work, name="shadow", daemon=True).start()
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        pull = ctx.socket(zmq.PULL)
        pull.setsockopt(zmq.RCVHWM, HWM)
        pull.bind(f"tcp://{host}:{in_port}")
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.SNDHWM, HWM * 4)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(out)
        for i in range(self.workers):
            threading.Thread(target=self._work, name=f"worker-{i}", daemon=True).start()
        threading.Thread(target=self._forward, args=(push,), daemon=True).start()
        while True:
            self.inbox.put(pull.recv())  # blocks when workers fall behind: backpressure upstream
            self.received.inc()
            self.queue_depth.set(self.inbox.qsize())

    def _forward(self, push: zmq.Socket) -> None:  # type: ignore[type-arg]
        while True:
            push.send_json(self.outbox.get())

    def _work(self) -> None:

        client = _client(self.gateway)
        while True:
            data = self.inbox.get()
            self.queue_depth.set(self.inbox.qsize())
            try:
                camera, seq, captured, image = decode_frame(data)
            except FrameError as exc:
                self.rejected.labels(exc.reason).inc()
                continue
            self.queue_latency.observe(max(0.0, time.time() - captured))
            small = resize_half(image)[None, ...]
            started = time.perf_counter()
            try:
                probs = _classify(client, small)
            except Exception as exc:  # noqa: BLE001 - a failed request is counted, the stage goes on
                self.errors.inc()
                log.debug("inference failed: %s", exc)
                continue
            self.infer_latency.observe(time.perf_counter() - started)
            self.processed.inc()
            if self.shadow is not None:
                try:
                    self.shadow_queue.put_nowait((small, probs))
                except queue.Full:
                    self.shadow_dropped.inc()
            self.outbox.put({"camera": camera, "seq": seq, "captured": captured, "p_defect": float(probs[1])})


def _client(target: str) -> Any:
    import tritonclient.http as triton_http

    return triton_http.InferenceServerClient(target, connection_timeout=2.0, network_timeout=2.0)


def _classify(client: Any, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """One KServe v2 request for a batch of uint8 frames; the class probabilities of the first."""
    import tritonclient.http as triton_http

    inp = triton_http.InferInput(INPUT_NAME, list(images.shape), "UINT8")
    inp.set_data_from_numpy(images, binary_data=True)
    probs: npt.NDArray[np.float32] = client.infer(MODEL_NAME, [inp]).as_numpy(OUTPUT_NAME)[0]
    return probs


# -- sink ----------------------------------------------------------------------------------------------
class Sink:
    def __init__(self, reference: int, window: int, registry: CollectorRegistry) -> None:
        self.reference_n, self.window_n = reference, window
        self.reference: list[float] = []
        self.recent: list[float] = []
        self.results = Counter("pipeline_sink_results", "Predictions received", ["camera"], registry=registry)
        self.e2e = Histogram(
            "pipeline_sink_end_to_end_seconds",
            "Capture to prediction at the sink",
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.defect_ratio = Gauge(
            "pipeline_sink_defect_ratio", "Share of recent frames predicted defective", registry=registry
        )
        self.psi = Gauge(
            "pipeline_sink_prediction_psi",
            "Drift: PSI of recent vs reference p(defect); -1 until both windows are full",
            registry=registry,
        )
        self.psi.set(-1)
        self.gaps = Counter(
            "pipeline_sink_sequence_gaps", "Frames missing between consecutive results of a camera", registry=registry
        )
        self.last_seq: dict[int, int] = {}

    def run(self, in_port: int, host: str = "127.0.0.1") -> None:
        pull: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PULL)
        pull.bind(f"tcp://{host}:{in_port}")
        while True:
            self.record(cast(dict[str, Any], pull.recv_json()))  # preprocess sends one JSON object a result

    def record(self, result: dict[str, Any]) -> None:
        camera, seq, p = int(result["camera"]), int(result["seq"]), float(result["p_defect"])
        self.results.labels(str(camera)).inc()
        self.e2e.observe(max(0.0, time.time() - float(result["captured"])))
        last = self.last_seq.get(camera)
        if last is not None and seq > last + 1:
            self.gaps.inc(seq - last - 1)
        self.last_seq[camera] = max(seq, last or 0)
        if len(self.reference) < self.reference_n:
            self.reference.append(p)
            return
        self.recent = ([*self.recent, p])[-self.window_n :]
        self.defect_ratio.set(float(np.mean(np.array(self.recent) > 0.5)))
        if len(self.recent) == self.window_n:
            self.psi.set(psi(np.array(self.reference), np.array(self.recent)))


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
