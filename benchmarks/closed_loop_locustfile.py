"""A conventional closed-loop Locust user (what most load tests do), for benchmarks/stall.py to compare against.

Each user waits for its answer before the next request (`constant_throughput` paces it), so a stalled
server makes it send less: coordinated omission. Used only by the benchmark, never by resilience.
"""

from __future__ import annotations

import os
import time

import numpy as np
import tritonclient.http as triton_http
from locust import User, constant_throughput, task

RATE_PER_USER = float(os.environ.get("RATE_PER_USER", "20"))
TARGET = os.environ["TARGET"]
SAMPLES = os.environ["SAMPLES"]


class ClosedLoopUser(User):
    wait_time = constant_throughput(RATE_PER_USER)

    def on_start(self) -> None:
        image = np.load(SAMPLES)[0]
        self.inp = triton_http.InferInput("images", [1, *image.shape], "UINT8")
        self.inp.set_data_from_numpy(image[None, ...], binary_data=True)
        self.client = triton_http.InferenceServerClient(TARGET, connection_timeout=5, network_timeout=5)

    @task
    def infer(self) -> None:
        start = time.perf_counter()
        error = None
        try:
            self.client.infer("qc_cnn", [self.inp])
        except Exception as exc:  # noqa: BLE001 - a failure is a measured outcome
            error = exc
        self.environment.events.request.fire(
            request_type="infer",
            name="qc_cnn",
            response_time=(time.perf_counter() - start) * 1000,
            response_length=0,
            exception=error,
            context={},
        )
