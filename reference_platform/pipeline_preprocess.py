"""The preprocessing stage: integrity-check each frame, resize it, ask the gateway, forward the prediction.

A corrupted or truncated frame is counted by reason and skipped, never crashes the stage. Frames are resized
128 -> 64 by 2x2 area averaging and sent to the gateway (KServe v2) by a pool of workers; a bounded inbox
blocks the ZeroMQ input when they fall behind (backpressure upstream). In a shadow rollout each answered
frame is also mirrored to the shadow version (dropped, not queued, when it falls behind) and compared.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import zmq
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from reference_platform.model import INPUT_NAME, MODEL_NAME, OUTPUT_NAME
from reference_platform.pipeline_frames import FrameError, decode_frame
from reference_platform.pipeline_stage import HWM, LATENCY_BUCKETS

log = logging.getLogger("reference_platform.pipeline")  # the stage process's logger, as before the split


def resize_half(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """128x128 -> 64x64 by averaging each 2x2 block (area interpolation)."""
    h, w, c = image.shape
    small: npt.NDArray[np.uint8] = image.reshape(h // 2, 2, w // 2, 2, c).mean(axis=(1, 3)).round().astype(np.uint8)
    return small


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
