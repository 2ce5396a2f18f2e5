"""Probes the supervisor runs: liveness by a real inference, model-level readiness, stage health,
and Triton's own server-side p99 for `status`.

Liveness is a real inference because a replica whose backend stub died still answers
/v2/health/ready with 200 while every inference fails; readiness is /v2/models/qc_cnn/ready
(the model's own readiness, not the server's).
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass

import numpy as np

from reference_platform.model import INPUT_NAME, MODEL_NAME, SAMPLES_PATH
from reference_platform.pods import ReplicaPod


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A one-image KServe v2 inference request in the binary tensor extension: a JSON header, then raw bytes.

    Binary, not JSON: 12,288 pixels as JSON numbers cost Triton ~2 ms of parsing per probe on a slow box.
    """

    body: bytes
    header_length: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(self.header_length)}


def probe_body() -> InferRequest:
    """The probe's inference request, built from a real sample frame."""
    image = np.load(SAMPLES_PATH)[0] if SAMPLES_PATH.exists() else np.zeros((64, 64, 3), np.uint8)
    raw = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": INPUT_NAME,
                    "shape": [1, *image.shape],
                    "datatype": "UINT8",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    return InferRequest(header + raw, len(header))


def probe(pod: ReplicaPod, timeout: float, body: InferRequest) -> tuple[bool, bool]:
    """Return (live, ready): live = a real inference succeeds, ready = the model says ready."""
    if pod.role != "inference":  # a pipeline stage: its HTTP side answering is both
        try:
            conn = http.client.HTTPConnection("127.0.0.1", pod.metrics_port, timeout=timeout)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok, ok
        except (OSError, http.client.HTTPException):
            return False, False
    try:
        conn = pod.connect(pod.http_port, timeout)
        conn.request("GET", f"/v2/models/{MODEL_NAME}/ready")
        health = conn.getresponse()
        health.read()
        ready = health.status == 200
        conn.request(
            "POST",
            f"/v2/models/{MODEL_NAME}/infer",
            body=body.body,
            headers=body.headers,
        )
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp.status == 200, ready
    except (OSError, http.client.HTTPException):
        return False, False


def triton_p99_ms(pod: ReplicaPod) -> float | None:
    """Triton's own p99 of request latency (server side, its recent window), from the replica's metrics."""
    try:
        conn = pod.connect(pod.metrics_port, 0.5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    except (OSError, http.client.HTTPException):
        return None
    for line in text.splitlines():
        if line.startswith("nv_inference_request_summary_us{") and 'quantile="0.99"' in line:
            value = float(line.rsplit(" ", 1)[1])
            return None if value != value else round(value / 1000, 2)  # NaN before any request
    return None
