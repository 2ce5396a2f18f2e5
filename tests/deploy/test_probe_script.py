"""The inference liveness probe (reference_platform/deploy/images/probe_infer.py), run as the kubelet runs it:
a separate python process, standard library only, against a KServe v2 server that checks every request is a
well-formed binary-tensor inference and answers as a healthy or a broken replica would."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "reference_platform" / "deploy" / "images" / "probe_infer.py"
PIXELS = 64 * 64 * 3


@dataclass
class Answer:
    """How the fake replica answers a well-formed request."""

    status: int = 200
    shape: tuple[int, ...] = (1, 2)
    values: tuple[float, ...] = (0.9, 0.1)
    name: str = "probs"
    binary: bool = True
    delay_s: float = 0.0
    trickle_s: float = 0.0
    """Send the body one byte at a time, this long apart (each read is quick: only a deadline catches it)."""


class Replica(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answer = Answer()
        self.problems: list[str] = []
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def request_problems(path: str, headers: Message, body: bytes) -> list[str]:
    """What makes this request not a one-image binary-tensor KServe v2 inference of qc_cnn."""
    if path != "/v2/models/qc_cnn/infer":
        return [f"path {path}"]
    try:
        cut = int(headers["Inference-Header-Content-Length"])
        header = json.loads(body[:cut])
    except (TypeError, ValueError) as exc:
        return [f"no binary-tensor header: {exc}"]
    (inp,) = header["inputs"]
    problems = []
    if (inp["name"], inp["datatype"], inp["shape"]) != ("images", "UINT8", [1, 64, 64, 3]):
        problems.append(f"input {inp}")
    if inp.get("parameters", {}).get("binary_data_size") != PIXELS or len(body) != cut + PIXELS:
        problems.append(f"binary_data_size {inp.get('parameters')} with {len(body) - cut} raw bytes")
    elif len(set(body[cut:])) < 2:
        problems.append("a constant frame")
    return problems


class Handler(BaseHTTPRequestHandler):
    server: Replica

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests += 1
        problems = request_problems(self.path, self.headers, body)
        if problems:
            self.server.problems += problems
            self._send(400, json.dumps({"error": "; ".join(problems)}).encode())
            return
        answer = self.server.answer
        time.sleep(answer.delay_s)
        if answer.status != 200:
            self._send(answer.status, b'{"error": "Failed to process the request(s) for model \'qc_cnn\'\\nstub died"}')
            return
        out: dict[str, object] = {"name": answer.name, "datatype": "FP32", "shape": list(answer.shape)}
        raw = struct.pack(f"<{len(answer.values)}f", *answer.values)
        if answer.binary:
            out["parameters"] = {"binary_data_size": len(raw)}
        else:
            out["data"], raw = list(answer.values), b""
        header = json.dumps({"model_name": "qc_cnn", "model_version": "1", "outputs": [out]}).encode()
        extra = {"Inference-Header-Content-Length": str(len(header))} if answer.binary else {}
        self._send(200, header + raw, extra, answer.trickle_s)

    def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None, trickle_s: float = 0.0) -> None:
        self.send_response(status)
        self.send_header(
            "Content-Type", "application/json" if status != 200 or not extra else "application/octet-stream"
        )
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not trickle_s:
            self.wfile.write(body)
            return
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            time.sleep(trickle_s)


@pytest.fixture
def replica() -> Iterator[Replica]:
    server = Replica()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    stderr: str
    seconds: float


def run_probe(url: str, timeout_s: float = 1.0) -> Run:
    """As the kubelet would: `python3 probe_infer.py ...`, here isolated from site-packages (-I -S), so an
    import beyond the standard library fails the test instead of passing on this venv."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(PROBE), "--url", url, "--model", "qc_cnn", "--timeout-s", str(timeout_s)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return Run(proc.returncode, proc.stderr, time.perf_counter() - started)


def test_a_correct_answer_passes(replica: Replica) -> None:
    result = run_probe(replica.url)
    assert (result.code, result.stderr) == (0, "")
    assert replica.requests == 1 and replica.problems == []


def test_a_json_answer_passes_too(replica: Replica) -> None:
    replica.answer = Answer(binary=False)
    assert run_probe(replica.url).code == 0
    assert replica.problems == []


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (Answer(status=500), "HTTP 500: "),
        (Answer(status=503), "HTTP 503: "),
        (Answer(shape=(1, 3), values=(0.5, 0.3, 0.2)), "has shape [1, 3], expected [1, 2]"),
        (Answer(shape=(2,)), "has shape [2], expected [1, 2]"),
        (Answer(name="logits"), "no output 'probs'"),
        (Answer(values=(float("nan"), 0.1)), "non-finite"),
        (Answer(binary=False, values=(0.9,)), "carries no 2 values"),
    ],
    ids=["500", "503", "wrong-shape", "no-batch-dim", "wrong-output", "nan", "short-json"],
)
def test_a_broken_answer_fails_with_one_line_saying_why(replica: Replica, answer: Answer, why: str) -> None:
    replica.answer = answer
    result = run_probe(replica.url)
    assert result.code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("probe_infer: qc_cnn at http://127.0.0.1:")
    assert why in result.stderr, result.stderr
    assert replica.problems == []  # the request itself was well-formed


@pytest.mark.parametrize(
    "answer", [Answer(delay_s=3.0), Answer(trickle_s=0.05)], ids=["answers-late", "trickles-the-answer"]
)
def test_a_slow_answer_fails_within_the_timeout(replica: Replica, answer: Answer) -> None:
    replica.answer = answer
    result = run_probe(replica.url, timeout_s=0.5)
    assert result.code == 1 and "no answer within 0.5 s" in result.stderr, result.stderr
    # the deadline, plus a bare interpreter's start (~0.05 s; generous for a busy 2-core box)
    assert 0.5 <= result.seconds < 1.5, result.seconds


def test_a_closed_port_fails() -> None:
    replica = Replica()  # bound, never served, then closed: a port nothing listens on
    url = replica.url
    replica.server_close()
    result = run_probe(url)
    assert result.code == 1 and "request failed: ConnectionRefusedError" in result.stderr, result.stderr


def test_it_runs_on_the_triton_images_python() -> None:
    """Python 3.10 syntax (Ubuntu 22.04 in nvcr.io/nvidia/tritonserver:24.10-py3) and only the standard library."""
    tree = ast.parse(PROBE.read_text(), feature_version=(3, 10))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported - {"__future__"} <= sys.stdlib_module_names, imported - sys.stdlib_module_names


# -- against a real replica -----------------------------------------------------------------------------------
def _backend_stub_of(pgid: int) -> int:
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        try:
            if os.getpgid(proc.pid) == pgid and "triton_python_backend_stub" in " ".join(proc.info["cmdline"] or []):
                return int(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    raise AssertionError(f"no python backend stub in process group {pgid}")


@pytest.mark.integration
def test_a_real_replica_passes_until_its_backend_dies(tmp_path: Path) -> None:
    """A real tritonserver replica of the local platform: the probe passes; once the backend stub is killed,
    /v2/health/ready still says 200 but the probe fails (before the supervisor replaces the replica)."""
    import httpx

    from tests.integration.conftest import running_platform

    with running_platform(tmp_path) as platform:
        pod = next(p for p in platform.pods() if p["role"] == "inference" and p["ready"])
        url = f"http://{pod.get('host') or '127.0.0.1'}:{pod['http_port']}"
        healthy = run_probe(url)
        assert (healthy.code, healthy.stderr) == (0, ""), healthy.stderr
        os.kill(_backend_stub_of(pod["pid"]), signal.SIGKILL)
        assert httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200  # the trap
        zombie = run_probe(url)
        assert zombie.code == 1
        # tritonserver answers an error, or holds the request until the deadline: either way the probe fails
        assert re.search(r"HTTP [45]\d\d: |no answer within", zombie.stderr), zombie.stderr
