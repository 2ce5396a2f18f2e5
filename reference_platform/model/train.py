"""Train the quality-control CNN on generated images and export it to ONNX.

Needs the optional `train` extra (torch CPU). Serving needs only onnxruntime and the committed
`qc_cnn.onnx`. Run: `python -m reference_platform.model.train [--epochs N] [--out PATH]`.

The network takes camera frames as they come (uint8, N x 64 x 64 x 3) and does its own scaling, so
clients send 12 KB per image instead of 49 KB of float32. It is sized to cost roughly 1 ms per
image on one CPU core (~0.23 GFLOP), so that batching and saturation matter.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from reference_platform.model import INPUT_NAME, ONNX_PATH, OUTPUT_NAME, SAMPLES_PATH
from reference_platform.model.data import generate

log = logging.getLogger(__name__)


def build_model():  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class QCNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()

            def block(cin: int, cout: int) -> nn.Sequential:
                return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

            self.features = nn.Sequential(
                block(3, 24),
                block(24, 48),
                nn.MaxPool2d(2),
                block(48, 96),
                nn.MaxPool2d(2),
                block(96, 128),
                nn.AdaptiveAvgPool2d(1),
            )
            self.head = nn.Linear(128, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x.permute(0, 3, 1, 2).float() / 255.0
            return torch.softmax(self.head(self.features(x).flatten(1)), dim=1)

    return QCNet()


def train(epochs: int, n_train: int, seed: int) -> tuple[object, float]:
    """Train on freshly generated data; return the model and held-out accuracy."""
    import torch

    torch.manual_seed(seed)
    x, y = generate(n_train, seed=seed)
    xv, yv = generate(500, seed=seed + 1000)
    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    steps = epochs * ((len(xt) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xt))
        t0 = time.monotonic()
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            probs = model(xt[idx])
            loss = torch.nn.functional.nll_loss(torch.log(probs + 1e-7), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, xv, yv)
        log.info("epoch %d loss %.3f val acc %.3f (%.0f s)", epoch, loss.item(), acc, time.monotonic() - t0)
    return model, evaluate(model, xv, yv)


def evaluate(model, x: np.ndarray, y: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    import torch

    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def export(model, out: Path) -> None:  # type: ignore[no-untyped-def]
    import torch

    model.eval()
    dummy = torch.zeros(1, 64, 64, 3, dtype=torch.uint8)
    torch.onnx.export(
        model,
        (dummy,),
        str(out),
        dynamo=False,
        opset_version=17,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ONNX_PATH)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model, acc = train(args.epochs, args.n_train, args.seed)
    export(model, args.out)
    samples, _ = generate(16, seed=args.seed + 2000)
    np.save(SAMPLES_PATH, samples)
    log.info("held-out accuracy %.3f; wrote %s (%d bytes) and %s", acc, args.out, args.out.stat().st_size, SAMPLES_PATH)


if __name__ == "__main__":
    main()
