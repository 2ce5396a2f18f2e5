"""The cameras stage: N simulated conveyor-belt cameras publishing framed 128x128 RGB images of parts.

Each camera sends at `fps` with ZeroMQ's NOBLOCK: when the next stage is full the frame is dropped at the
source and counted (backpressure). `POST /control` changes fps, the defect rate, the share of corrupted
frames (truncated, flipped bits or a garbage header) or stalls cameras at run time, for faults and game days.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import zmq
from prometheus_client import CollectorRegistry, Counter, Gauge

from reference_platform.model.data import generate
from reference_platform.pipeline_frames import HEADER, encode_frame
from reference_platform.pipeline_stage import HWM


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
