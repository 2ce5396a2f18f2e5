"""The committed model: real images in, sensible classifications out (onnxruntime only)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from reference_platform.model import INPUT_NAME, ONNX_PATH, SAMPLES_PATH
from reference_platform.model.data import generate


def test_generator_is_deterministic_and_labels_are_balanced() -> None:
    a, la = generate(200, seed=7)
    b, lb = generate(200, seed=7)
    assert a.dtype == np.uint8 and a.shape == (200, 64, 64, 3)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert 0.35 < la.mean() < 0.65
    assert not np.array_equal(a, generate(200, seed=8)[0])


def test_committed_model_classifies_held_out_images() -> None:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(ONNX_PATH), opts, providers=["CPUExecutionProvider"])
    images, labels = generate(400, seed=12345)  # never seen in training (seeds 0, 1000, 2000)
    probs = session.run(None, {INPUT_NAME: images})[0]
    assert probs.shape == (400, 2)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    assert accuracy >= 0.9, accuracy


def test_load_payload_is_real_camera_frames() -> None:
    samples = np.load(SAMPLES_PATH)
    assert samples.dtype == np.uint8 and samples.shape[1:] == (64, 64, 3) and len(samples) >= 8
    assert samples.std() > 10  # images, not zeros
