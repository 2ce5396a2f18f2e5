"""Load over Locust's distributed mode, for real: a Locust master and worker processes on loopback, against the
benchmarks' calibration server (a KServe v2 endpoint that answers at once and counts what it served)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks import instant_server
from resilience.load import DistributedLoadGenerator, LoadSpec, generator_for
from resilience.load.workers import merge, problems
from resilience.model import Histogram, merge_latency
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration


class Counting(instant_server.Instant):
    served = 0
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        with Counting.lock:
            Counting.served += 1
        super().do_POST()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A killed worker resets its connections: expected here, not worth a traceback on stderr."""


@pytest.fixture
def server() -> Iterator[str]:
    Counting.served = 0
    httpd = _Server(("127.0.0.1", 0), Counting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def _generator(target: str, tmp_path: Path, **spec: object) -> DistributedLoadGenerator:
    gen = generator_for(
        LoadSpec.model_validate({"rate": 300, "warmup_s": 0, "max_duration_s": 60, **spec}),
        target=target,
        payload=ROOT / "reference_platform" / "model" / "samples.npy",
        model="qc_cnn",
        input_name="images",
        log_path=tmp_path / "locust.log",
    )
    assert isinstance(gen, DistributedLoadGenerator)
    return gen


def test_two_workers_share_the_schedule_and_their_histograms_merge_exactly(server: str, tmp_path: Path) -> None:
    gen = _generator(server, tmp_path, workers=2)
    gen.start()
    try:
        gen.wait_until(time.time() + 4)
    finally:
        summary = gen.stop()
    w1, w2 = summary.workers
    assert summary.failures == 0, summary.errors
    assert summary.requests == Counting.served == w1.sent + w2.sent  # every request counted once, by both sides
    assert 0.8 * 300 * summary.duration_s <= summary.requests <= 1.2 * 300 * summary.duration_s
    for w in (w1, w2):  # each sent its half (Poisson noise over a few seconds is ~10%)
        assert w.share == 0.5 and w.lost is None and w.cpu_s is not None and w.cpu_s > 0
        assert 0.6 * summary.requests / 2 <= w.sent <= 1.4 * summary.requests / 2, summary.workers
    assert problems(summary) == []
    # the merged slices hold exactly what the two processes measured: their own histograms, added
    merged = merge_latency(gen.slices())
    by_hand = Histogram()
    for worker in gen.workers.values():
        for part in worker.slices.values():
            by_hand.add(Histogram.decode(part.latency_hdr))
    assert merged.count == by_hand.count == summary.requests
    for q in (50, 90, 99, 99.9, 100):
        assert merged.percentile_ms(q) == by_hand.percentile_ms(q)
    assert {s.index for s in gen.slices()} == {i for w in gen.workers.values() for i in w.slices}
    one = merge([next(iter(gen.workers[1].slices.values()))], 0.0)  # a slice of one part is itself
    assert (one.ok, one.failed) == (next(iter(gen.workers[1].slices.values())).ok, 0)


def test_a_worker_killed_mid_run_is_named_with_the_share_it_missed_and_the_run_is_never_a_pass(
    server: str, tmp_path: Path
) -> None:
    gen = _generator(server, tmp_path, workers=2, rate=200)
    gen.start()
    try:
        gen.wait_until(time.time() + 1.5)
        victim = gen.workers[2].proc
        assert victim is not None
        os.killpg(victim.pid, signal.SIGKILL)
        gen.wait_until(time.time() + 3)  # the merge does not wait for the dead worker
    finally:
        summary = gen.stop()
    w1, w2 = summary.workers
    assert w1.lost is None and w2.lost is not None and "exited" in w2.lost
    assert w2.missed_share > 0.3, summary.workers  # killed about a third of the way through its share
    assert w1.missed_share < 0.2
    (why,) = problems(summary)
    assert why.startswith("load worker 2 was lost") and "of its share not sent" in why
    # what the dead worker had sent but not yet reported (its last slice or two) died with it; nothing else
    assert 0 <= Counting.served - summary.requests <= 100 * 1.0, (Counting.served, summary.requests)


def test_a_worker_joins_from_the_command_line_as_another_machine_would(server: str, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = _generator(server, tmp_path, workers=1, remote_workers=1, master_port=port)
    joined = subprocess.Popen(
        [sys.executable, "-m", "resilience.cli", "load", "worker", "--master", f"127.0.0.1:{port}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        gen.start()
        gen.wait_until(time.time() + 3)
        summary = gen.stop()
    finally:
        joined.kill()
        joined.wait(10)
    local = {w.index for w in gen.workers.values() if w.proc is not None}
    assert len(summary.workers) == 2 and len(local) == 1  # one process of ours, one that joined
    assert all(w.lost is None and w.sent > 0 for w in summary.workers), summary.workers
    assert summary.requests == Counting.served and problems(summary) == []
