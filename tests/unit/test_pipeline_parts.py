"""The pure parts of the pipeline: frame format and integrity checks, resizing, drift (PSI)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_platform.model.data import generate
from reference_platform.pipeline import (
    FRAME_SIZE,
    FrameError,
    Sink,
    _corrupt,
    decode_frame,
    encode_frame,
    psi,
    resize_half,
)


def _frame(seed: int = 0) -> tuple[np.ndarray, bytes]:
    image = generate(1, seed=seed)[0][0].repeat(2, axis=0).repeat(2, axis=1)
    return image, encode_frame(3, 42, 1234.5, image)


def test_round_trip() -> None:
    image, frame = _frame()
    camera, seq, captured, decoded = decode_frame(frame)
    assert (camera, seq, captured) == (3, 42, 1234.5) and np.array_equal(decoded, image)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda f: f[:10], "truncated"),
        (lambda f: f[:-1], "truncated"),
        (lambda f: b"XXXX" + f[4:], "bad-magic"),
        (lambda f: f[:-5] + bytes([f[-5] ^ 0xFF]) + f[-4:], "checksum"),
    ],
)
def test_damaged_frames_are_detected_with_the_reason(damage, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FrameError) as exc:
        decode_frame(damage(_frame()[1]))
    assert exc.value.reason == reason


@given(st.integers(min_value=0, max_value=10_000))
def test_injected_corruption_is_always_caught(seed: int) -> None:
    with pytest.raises(FrameError):
        decode_frame(_corrupt(_frame()[1], random.Random(seed)))


def test_resize_half_is_2x2_area_average() -> None:
    image = np.zeros((FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    image[0, 0], image[0, 1], image[1, 0], image[1, 1] = 0, 100, 200, 100
    small = resize_half(image)
    assert small.shape == (64, 64, 3) and small[0, 0, 0] == 100 and small[1, 1, 0] == 0
    big = generate(1, seed=1)[0][0].repeat(2, axis=0).repeat(2, axis=1)
    assert np.array_equal(resize_half(big), generate(1, seed=1)[0][0])


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    ref = rng.beta(2, 2, 2000)
    assert psi(ref, rng.beta(2, 2, 2000)) < 0.05
    assert psi(ref, rng.beta(8, 2, 2000)) > 0.25  # the usual "significant shift" line


def test_sink_reports_drift_only_once_both_windows_are_full() -> None:
    from prometheus_client import CollectorRegistry

    sink = Sink(reference=400, window=400, registry=CollectorRegistry())
    rng = np.random.default_rng(1)
    for i in range(799):
        sink.record({"camera": 0, "seq": i, "captured": 0.0, "p_defect": float(rng.uniform(0, 1))})
    assert sink.psi._value.get() == -1  # the gauge we set: not yet two full windows
    sink.record({"camera": 0, "seq": 799, "captured": 0.0, "p_defect": 0.5})
    calm = sink.psi._value.get()
    for i in range(800, 1000):  # half the window now says "defect" with certainty
        sink.record({"camera": 0, "seq": i, "captured": 0.0, "p_defect": 0.99})
    assert calm < 0.1 and sink.psi._value.get() > 0.25
    sink.record({"camera": 0, "seq": 1010, "captured": 0.0, "p_defect": 0.99})
    assert sink.gaps._value.get() == 10  # frames 1000..1009 never arrived


def test_drift_monitor_defaults_do_not_false_alarm_on_this_models_outputs() -> None:
    import onnxruntime as ort

    from reference_platform.config import PipelineConfig
    from reference_platform.model import ONNX_PATH

    session = ort.InferenceSession(str(ONNX_PATH), providers=["CPUExecutionProvider"])
    calm = session.run(None, {"images": generate(1500, seed=77)[0]})[0][:, 1]
    shifted = session.run(None, {"images": generate(500, seed=78, defect_rate=0.9)[0]})[0][:, 1]
    n = PipelineConfig().drift_window
    rng = np.random.default_rng(0)
    noise = [psi(rng.choice(calm, n), rng.choice(calm, n)) for _ in range(400)]
    signal = [psi(rng.choice(calm, n), rng.choice(shifted, n)) for _ in range(100)]
    assert np.percentile(noise, 99) < 0.25  # no drift: stays under the usual alarm line
    assert min(signal) > 0.25  # a real shift in the parts (50% -> 90% defective) always crosses it
