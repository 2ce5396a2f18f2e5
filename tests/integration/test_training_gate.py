"""The training job for real (torch on CPU): a model that fails the validation gate is never registered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from reference_platform.model.data import generate
from reference_platform.model.repository import ModelRepository

pytestmark = pytest.mark.integration
pytest.importorskip("torch", reason="the training job needs the `train` extra (make test installs it)")


def _train(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reference_platform.model.train", "--repository", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_untrained_model_fails_the_gate_and_is_not_registered(tmp_path: Path) -> None:
    result = _train(tmp_path, "--epochs", "0", "--n-train", "64", "--min-accuracy", "0.9")
    assert result.returncode == 1, result.stderr
    assert "validation gate failed, nothing registered" in result.stderr
    assert "held-out accuracy" in result.stderr and "< required 0.900" in result.stderr
    assert ModelRepository(tmp_path).versions() == []
    assert not any(tmp_path.rglob("*.onnx"))  # no half-registered leftovers either


def test_a_model_that_clears_the_gate_becomes_the_next_version(tmp_path: Path) -> None:
    # a real gate: 3 epochs on 2,048 frames reach 0.86 held-out (seed 0) and 0.76 (seed 3); chance is 0.5
    result = _train(tmp_path, "--epochs", "3", "--n-train", "2048", "--min-accuracy", "0.7")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    repo = ModelRepository(tmp_path)
    assert out["registered_version"] == 1 and repo.versions() == [1]
    meta = repo.metadata(1)
    assert meta["parity_max_abs_diff"] <= 1e-4
    assert meta["gate"]["holdout_n"] == 500 and 0.7 <= meta["accuracy"] == out["accuracy"] <= 1.0
    # the registered file is a working ONNX model of the right shape
    x, _ = generate(8, seed=5)
    probs = ort.InferenceSession(str(repo.path(1)), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    assert probs.shape == (8, 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    # a second passing run registers version 2, leaving version 1 untouched
    again = _train(tmp_path, "--epochs", "3", "--n-train", "2048", "--min-accuracy", "0.7", "--seed", "3")
    assert again.returncode == 0 and repo.versions() == [1, 2]
    assert repo.metadata(1) == meta
