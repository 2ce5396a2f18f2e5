"""Register a deliberately degraded version of the QC model, for chaos experiments.

`experiments/bad-canary.yaml` rolls a bad model out as a canary and expects the platform to roll it
back. The training job cannot produce one: its validation gate refuses to register a model that
fails accuracy or ONNX parity, which is the point of the gate. This tool writes such a version
directly, with the same interface as v1 (input `images` uint8 N x 64 x 64 x 3, output `probs`
N x 2), so that the experiment has something to roll out:

- `slow`: `factor` untrained QC networks averaged, about `factor` times as expensive as v1;
- `inaccurate`: v1 with Gaussian noise (`noise` x each tensor's std) added to its float weights.

Run: `python -m reference_platform.model.degrade --repository DIR [--kind slow|inaccurate] [--factor 8]`.
DIR gets a copy of the packaged repository first if it holds no model yet; the new version is printed.
Needs the optional `train` extra (torch, onnx); never point it at the packaged repository.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from reference_platform.model import INPUT_NAME, ONNX_PATH, OUTPUT_NAME, REPOSITORY
from reference_platform.model.data import generate
from reference_platform.model.repository import ModelRepository
from reference_platform.model.train import HOLDOUT_SEED  # torch is imported lazily there too

NOTE = "deliberately degraded for chaos experiments; never passes the training gate"
HOLDOUT = (500, HOLDOUT_SEED)
"""Held-out images (count, seed), as the training gate draws them."""


def _need(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeError(
            f"building a degraded model needs {module} from the `train` extra: pip install -e '.[train]'"
        ) from exc


def build_slow(folder: Path, factor: int = 8) -> None:
    """Write folder/model.onnx: `factor` QC networks averaged, same interface as v1, ~`factor`x slower."""
    torch = _need("torch")
    from reference_platform.model.train import build_model

    class Slow(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.nets = torch.nn.ModuleList(build_model() for _ in range(factor))

        def forward(self, x: Any) -> Any:
            return torch.stack([net(x) for net in self.nets]).mean(0)

    torch.manual_seed(0)
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, and it is what train.py uses
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            Slow().eval(),
            (torch.zeros(1, 64, 64, 3, dtype=torch.uint8),),
            str(folder / "model.onnx"),
            dynamo=False,
            opset_version=17,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )


def build_inaccurate(folder: Path, noise: float = 0.7, seed: int = 0) -> None:
    """Write folder/model.onnx: packaged v1 with N(0, noise x std) added to every float weight tensor."""
    onnx = _need("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(ONNX_PATH))
    rng = np.random.default_rng(seed)
    for tensor in model.graph.initializer:
        weights = numpy_helper.to_array(tensor)
        if weights.dtype.kind == "f" and weights.size > 1:
            noisy = weights + rng.normal(0.0, noise * float(weights.std()), weights.shape)
            tensor.CopyFrom(numpy_helper.from_array(noisy.astype(weights.dtype), tensor.name))
    onnx.save(model, str(folder / "model.onnx"))


def measure(onnx_file: Path, batch: int = 16, repeats: int = 5) -> dict[str, float]:
    """Held-out accuracy, and ms per image at `batch` (median of `repeats`) on one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_file), opts, providers=["CPUExecutionProvider"])
    x, y = generate(*HOLDOUT)
    accuracy = float((session.run(None, {INPUT_NAME: x})[0].argmax(1) == y).mean())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(None, {INPUT_NAME: x[:batch]})
        times.append((time.perf_counter() - t0) * 1000 / batch)
    return {"accuracy": accuracy, "ms_per_image": round(float(np.median(times)), 3)}


def degrade(repository: Path, kind: str = "slow", factor: int = 8, noise: float = 0.7) -> int:
    """Add a degraded version to `repository` (seeded with the packaged one if empty); return it."""
    if kind not in ("slow", "inaccurate"):
        raise ValueError(f"kind: {kind!r} is not one of slow, inaccurate")
    if factor < 1 or noise <= 0:
        raise ValueError(f"factor must be >= 1 and noise > 0 (got {factor}, {noise})")
    if repository.resolve() == REPOSITORY.resolve():
        raise ValueError("refusing to write a degraded model into the packaged repository")
    repo = ModelRepository(repository)
    if not repo.versions():
        shutil.copytree(REPOSITORY, repository, dirs_exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "slow":
            build_slow(Path(tmp), factor)
            meta: dict[str, Any] = {"degraded": "slow", "factor": factor}
        else:
            build_inaccurate(Path(tmp), noise)
            meta = {"degraded": "inaccurate", "noise": noise}
        meta |= measure(Path(tmp) / "model.onnx") | {"baseline": measure(ONNX_PATH), "note": NOTE}
        meta["holdout"] = {"n": HOLDOUT[0], "seed": HOLDOUT[1]}
        return repo.register(Path(tmp) / "model.onnx", meta)  # staged in a temp folder, renamed to latest()+1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, required=True, help="model repository root to add to")
    parser.add_argument("--kind", choices=("slow", "inaccurate"), default="slow")
    parser.add_argument("--factor", type=int, default=8, help="slow: networks averaged (cost multiple)")
    parser.add_argument("--noise", type=float, default=0.7, help="inaccurate: noise std / weight std")
    args = parser.parse_args(argv)
    try:
        version = degrade(args.repository, args.kind, args.factor, args.noise)
    except (RuntimeError, ValueError) as exc:
        print(f"degrade: {exc}", file=sys.stderr)
        return 2
    meta = ModelRepository(args.repository).metadata(version)
    print(
        f"registered degraded ({args.kind}) version {version}: accuracy {meta['accuracy']:.3f} "
        f"(v1 {meta['baseline']['accuracy']:.3f}), {meta['ms_per_image']:.2f} ms/image "
        f"(v1 {meta['baseline']['ms_per_image']:.2f})",
        file=sys.stderr,
    )
    print(version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
