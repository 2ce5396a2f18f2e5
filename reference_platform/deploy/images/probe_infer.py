"""Liveness by a real inference: send one KServe v2 request to a Triton replica and check the answer.

    python3 /opt/vision/probe_infer.py --url http://127.0.0.1:8000 --model qc_cnn --timeout-s 1

Exit 0 only when the model answered within the timeout with the expected output tensor (name, datatype,
shape, finite values); otherwise exit 1 with one line on stderr saying why. A health endpoint is not
enough: a replica whose backend died still answers /v2/health/ready with 200 while every inference fails.

The request uses the binary tensor extension, like reference_platform/probes.py (12,288 pixels as JSON
numbers cost Triton ~2 ms of parsing per probe on a slow box). Standard library only and Python 3.10
syntax: it runs on the python3 of the nvcr.io/nvidia/tritonserver image, which has none of our packages.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import struct
import sys
import threading
import urllib.parse
from typing import Any

PROG = "probe_infer"
DATATYPE_SIZES = {"UINT8": 1, "FP32": 4}
"""Bytes per element of the input and output datatypes this probe builds and reads."""


class ProbeError(Exception):
    """The replica did not prove it can infer; the message is the one line for stderr."""


def frame(shape: list[int]) -> bytes:
    """A deterministic, non-constant uint8 frame (a constant one could hide a model that ignores its input)."""
    size = math.prod(shape)
    return bytes((i * 31 + i // 192 * 7) % 256 for i in range(size))


def request_body(input_name: str, shape: list[int], output_name: str) -> tuple[bytes, int]:
    """A one-image request: JSON header, then the raw tensor. Returns (body, header length)."""
    raw = frame(shape)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": input_name,
                    "shape": [1, *shape],
                    "datatype": "UINT8",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": output_name, "parameters": {"binary_data": True}}],
        }
    ).encode()
    return header + raw, len(header)


def infer(url: str, model: str, body: bytes, header_length: int, timeout_s: float) -> tuple[int, bytes, str | None]:
    """POST the request; return (status, body, Inference-Header-Content-Length of the answer)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeError(f"--url {url!r} is not an http(s)://host:port URL")
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(parts.hostname, parts.port, timeout=timeout_s)
    try:
        conn.request(
            "POST",
            f"{parts.path.rstrip('/')}/v2/models/{urllib.parse.quote(model)}/infer",
            body=body,
            headers={
                "Content-Type": "application/octet-stream",
                "Inference-Header-Content-Length": str(header_length),
            },
        )
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("Inference-Header-Content-Length")
    finally:
        conn.close()


def check_answer(body: bytes, header_length: str | None, output_name: str, shape: list[int]) -> None:
    """Raise ProbeError unless the answer carries `output_name` as FP32 [1, *shape] with finite values."""
    try:
        cut = int(header_length) if header_length is not None else len(body)
        header: dict[str, Any] = json.loads(body[:cut])
    except ValueError as exc:
        raise ProbeError(f"the answer is not a KServe v2 response ({exc})") from exc
    outputs = {o.get("name"): o for o in header.get("outputs") or [] if isinstance(o, dict)}
    if output_name not in outputs:
        raise ProbeError(f"the answer has no output {output_name!r} (has {sorted(map(str, outputs))})")
    out = outputs[output_name]
    want = [1, *shape]
    if out.get("shape") != want:
        raise ProbeError(f"output {output_name!r} has shape {out.get('shape')}, expected {want}")
    if out.get("datatype") != "FP32":
        raise ProbeError(f"output {output_name!r} is {out.get('datatype')}, expected FP32")
    count = math.prod(want)
    size = (out.get("parameters") or {}).get("binary_data_size")
    if size is not None:  # binary tensor extension: the raw values follow the JSON header, in output order
        offset = cut
        for other in header["outputs"]:
            if other is out:
                break
            offset += int((other.get("parameters") or {}).get("binary_data_size") or 0)
        raw = body[offset : offset + int(size)]
        if int(size) != count * DATATYPE_SIZES["FP32"] or len(raw) != int(size):
            raise ProbeError(f"output {output_name!r} carries {len(raw)} bytes, expected {count * 4}")
        values: list[Any] = list(struct.unpack(f"<{count}f", raw))
    else:
        data = out.get("data")
        if not isinstance(data, list) or len(data) != count:
            raise ProbeError(f"output {output_name!r} carries no {count} values")
        values = data
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        raise ProbeError(f"output {output_name!r} has non-finite values {values}")


def probe(args: argparse.Namespace) -> None:
    body, header_length = request_body(args.input, args.input_shape, args.output)
    status, answer, answer_header = infer(args.url, args.model, body, header_length, args.timeout_s)
    if status != 200:
        detail = answer[:200].decode("utf-8", "replace")
        raise ProbeError(f"HTTP {status}: {detail}")
    check_answer(answer, answer_header, args.output, args.output_shape)


def shape_arg(text: str) -> list[int]:
    try:
        dims = [int(d) for d in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of dimensions") from None
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every dimension must be >= 1")
    return dims


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the replica's KServe v2 HTTP endpoint")
    p.add_argument("--model", default="qc_cnn")
    p.add_argument("--timeout-s", type=float, default=1.0, help="the whole probe, connect to last byte")
    p.add_argument("--input", default="images", help="input tensor name (UINT8)")
    p.add_argument("--input-shape", type=shape_arg, default=[64, 64, 3], help="one image, without the batch")
    p.add_argument("--output", default="probs", help="output tensor name (FP32)")
    p.add_argument("--output-shape", type=shape_arg, default=[2], help="one answer, without the batch")
    args = p.parse_args(argv)

    outcome: list[str] = []  # "" for a proven inference, else why not; only the worker appends

    def run() -> None:
        try:
            probe(args)
            outcome.append("")
        except ProbeError as exc:
            outcome.append(str(exc))
        except TimeoutError:  # a socket operation ran out of the time: the same verdict as the deadline's
            outcome.append(f"no answer within {args.timeout_s:g} s")
        except (OSError, http.client.HTTPException) as exc:
            outcome.append(f"request failed: {type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - anything unforeseen fails the probe, never passes it
            outcome.append(f"unreadable answer: {type(exc).__name__}: {exc}")

    # socket timeouts apply per operation; a replica that trickles its answer could exceed them many times
    # over, so the deadline is for the whole exchange (a daemon thread left behind dies with the process)
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(args.timeout_s)
    reason = outcome[0] if outcome else f"no answer within {args.timeout_s:g} s"
    if reason:
        reason = " ".join(reason.split())  # one line, whatever the server put in its error
        print(f"{PROG}: {args.model} at {args.url}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
