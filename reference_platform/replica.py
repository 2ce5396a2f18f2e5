"""One inference replica ("pod"): a bare Triton Inference Server serving a standard model repository.

Run as its own process (the supervisor does this): `python -m reference_platform.replica --name a-0
--http-port P --grpc-port P --metrics-port P --workspace DIR`. This module only prepares the workspace
and then *becomes* `tritonserver` (exec): no Python process sits in the request path, the pod's pid is
tritonserver's, and its process group is tritonserver plus the python-backend stub.

The workspace holds:
- `backends/`: the python backend of the tritonserver that the nvidia-pytriton wheel bundles (a copy: Triton
  refuses backend libraries that resolve outside the backend directory) and the Python-based backend
  `onnxruntime_python` (reference_platform/triton_backends), which runs `model.onnx` in onnxruntime;
- `models/qc_cnn/`: the packaged repository's version folder (a symlink) and `configs/local-cpu.pbtxt`, the
  repository's local overlay rendered with this replica's settings (version, batch size, queue delay, threads).

Speaks the KServe v2 protocol over HTTP and gRPC, exposes Triton's Prometheus `/metrics` (with latency
summaries) and `/v2/health/{live,ready}`; the model is warmed before it reports ready.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import sysconfig
from pathlib import Path

from reference_platform.contracts import SHM_PREFIX
from reference_platform.model import MODEL_NAME
from reference_platform.model.repository import LOCAL_CONFIG, ModelRepository

BACKENDS = Path(__file__).resolve().parent / "triton_backends"
"""Our Python-based Triton backends (one folder each, holding a model.py)."""


def bundled_tritonserver() -> Path:
    """The tritonserver tree inside the nvidia-pytriton wheel (bin/, backends/python/, python_backend_stubs/)."""
    import importlib.util

    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "nvidia-pytriton is not installed: it carries the tritonserver binary; run `make install`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "tritonserver"


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment tritonserver and its backend stub need under this interpreter.

    The stub embeds libpython: under a pyenv interpreter it must find *this* interpreter's libpython first
    (else model load fails with `'_thread.RLock' object has no attribute '_recursion_count'`), and it ignores
    PYTHONPATH, so the backend reads the venv's site-packages from RESILIENCE_SITE_PACKAGES.
    """
    env = dict(os.environ if base is None else base)
    root = bundled_tritonserver()
    libs = [sysconfig.get_config_var("LIBDIR") or "", str(root.parent.parent / "nvidia_pytriton.libs")]
    current = env.get("LD_LIBRARY_PATH", "")
    env["LD_LIBRARY_PATH"] = ":".join([p for p in libs if p] + ([current] if current else []))
    env["RESILIENCE_SITE_PACKAGES"] = os.pathsep.join(dict.fromkeys([sysconfig.get_paths()["purelib"], *sys.path[1:]]))
    return env


def prepare_backends(workspace: Path) -> Path:
    """Copy the python backend (with the stub for this Python) and our backends into `workspace/backends`."""
    root = bundled_tritonserver()
    target = workspace / "backends"
    python = target / "python"
    python.mkdir(parents=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        shutil.copy2(root / "backends" / "python" / name, python / name)
    stub = (
        root
        / "python_backend_stubs"
        / f"{sys.version_info.major}.{sys.version_info.minor}"
        / "triton_python_backend_stub"
    )
    shutil.copy2(stub, python / stub.name)
    for backend in BACKENDS.iterdir():
        if (backend / "model.py").exists():
            shutil.copytree(backend, target / backend.name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def render_config(template: str, version: int, max_batch_size: int, queue_delay_us: int | None, threads: int) -> str:
    """The local overlay with one replica's settings applied (protobuf text format, Triton's own schema).

    `queue_delay_us` None turns the dynamic batcher off; 0 keeps it, batching only what queued meanwhile.
    """
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = text_format.Parse(template, model_config_pb2.ModelConfig())
    config.max_batch_size = max_batch_size
    if queue_delay_us is not None:
        config.dynamic_batching.max_queue_delay_microseconds = queue_delay_us
    else:
        config.ClearField("dynamic_batching")
    config.parameters["intra_op_thread_count"].string_value = str(threads)
    config.version_policy.specific.versions[:] = [version]
    return str(text_format.MessageToString(config))


def prepare_models(workspace: Path, repository: ModelRepository, args: argparse.Namespace) -> Path:
    """`workspace/models/qc_cnn`: the served version (a symlink) and the rendered local config."""
    version_dir = repository.path(args.model_version).parent
    template = (repository.folder / LOCAL_CONFIG).read_text()
    model = workspace / "models" / MODEL_NAME
    (model / "configs").mkdir(parents=True)
    (model / str(args.model_version)).symlink_to(version_dir, target_is_directory=True)
    (model / LOCAL_CONFIG).write_text(
        render_config(
            template,
            args.model_version,
            args.max_batch_size,
            None if args.no_dynamic_batching else args.queue_delay_us,
            args.threads,
        )
    )
    return model.parent


def command(args: argparse.Namespace, backends: Path, models: Path) -> list[str]:
    admin = secrets.token_hex(16)  # nobody needs to load or unload models: lock those APIs with a throwaway key
    return [
        str(bundled_tritonserver() / "bin" / "tritonserver"),
        f"--model-repository={models}",
        f"--model-config-name={Path(LOCAL_CONFIG).stem}",
        f"--backend-directory={backends}",
        f"--http-address={args.address}",
        f"--http-port={args.http_port}",
        f"--grpc-address={args.address}",
        f"--grpc-port={args.grpc_port}",
        f"--metrics-address={args.address}",
        f"--metrics-port={args.metrics_port}",
        # p50/p90/p99 of request latency per model, as Prometheus summaries (the supervisor shows p99)
        "--metrics-config=summary_latencies=true",
        "--metrics-config=summary_quantiles=0.5:0.05,0.9:0.01,0.99:0.001",
        "--strict-readiness=true",
        "--exit-timeout-secs=2",
        # shared-memory segments named after this pid (exec keeps it), so a supervisor can clean up after a kill
        f"--backend-config=python,shm-region-prefix-name={SHM_PREFIX}{os.getpid()}_",
        f"--http-restricted-api=model-repository,logging,trace:resilience-admin={admin}",
        f"--grpc-restricted-protocol=model-repository,logging,trace:resilience-admin={admin}",
        "--log-verbose=0",
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="reference_platform.replica", description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--address", default="127.0.0.1", help="0.0.0.0 inside a region's network namespace")
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--model-version", type=int, default=1, help="version in the model repository")
    p.add_argument("--repository", type=Path, default=None, help="model repository root (default: packaged)")
    p.add_argument("--max-batch-size", type=int, default=16)
    p.add_argument(
        "--queue-delay-us", type=int, default=0, help="dynamic batcher: most time a request waits for others"
    )
    p.add_argument("--no-dynamic-batching", action="store_true", help="serve one request at a time")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.add_argument("--workspace", type=Path, required=True, help="a directory that must not exist yet")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    repository = ModelRepository(args.repository) if args.repository else ModelRepository()
    args.workspace.mkdir(parents=True)
    backends = prepare_backends(args.workspace)
    models = prepare_models(args.workspace, repository, args)
    cmd = command(args, backends, models)
    print(f"replica {args.name}: exec {' '.join(cmd[:4])} ...", flush=True)
    os.execve(cmd[0], cmd, server_env())


if __name__ == "__main__":
    main()
