"""Two regions: callers stay in their region, and lose nothing when a whole region goes away."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

from reference_platform.model import SAMPLES_PATH
from tests.integration.conftest import Platform, short_experiment

pytestmark = pytest.mark.integration


def _infer(url: str, n: int, region: str | None = None) -> None:
    client = triton_http.InferenceServerClient(url)
    image = np.load(SAMPLES_PATH)[:1]
    inp = triton_http.InferInput("images", list(image.shape), "UINT8")
    inp.set_data_from_numpy(image)
    for _ in range(n):
        result = client.infer("qc_cnn", [inp], headers={"x-region": region} if region else None)
        assert result.as_numpy("probs").shape == (1, 2)


def _delta(before: dict[str, int], after: dict[str, int], region: str) -> int:
    return sum(after[k] - before.get(k, 0) for k in after if k.startswith(f"{region}-"))


def test_callers_are_served_in_their_own_region(two_regions: Platform) -> None:
    url = two_regions.state["gateway"]["http"]
    before = two_regions.served()
    _infer(url, 20)  # no header: the default (first) region
    mid = two_regions.served()
    _infer(url, 20, region="b")
    after = two_regions.served()
    assert _delta(before, mid, "a") == 20 and _delta(before, mid, "b") == 0
    assert _delta(mid, after, "b") == 20 and _delta(mid, after, "a") == 0


def test_grpc_through_the_gateway(two_regions: Platform) -> None:
    client = triton_grpc.InferenceServerClient(two_regions.state["gateway"]["grpc"])
    image = np.load(SAMPLES_PATH)[:4]
    inp = triton_grpc.InferInput("images", list(image.shape), "UINT8")
    inp.set_data_from_numpy(image)
    probs = client.infer("qc_cnn", [inp]).as_numpy("probs")
    assert probs.shape == (4, 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)


def test_losing_a_whole_region_fails_over_to_the_other(two_regions: Platform, tmp_path: Path) -> None:
    before = two_regions.served()
    report_dir = tmp_path / "r"
    result = two_regions.cli(
        "run", str(short_experiment(tmp_path, name="region-outage.yaml")), "--report-dir", str(report_dir)
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads((report_dir / "report.json").read_text())
    assert [f["target"].split()[1] for f in report["faults"]] == ["a-0", "a-1"]
    assert all(f["landed"] and f["evidence"]["exit_seen_by_parent"]["signal"] == "SIGKILL" for f in report["faults"])
    after = two_regions.served()
    assert _delta(before, after, "b") > 50, after  # region b carried region a's callers meanwhile
    availability = next(s for s in report["slos"] if s["name"] == "availability")
    # a replica killed mid-response can cost the odd request (HAProxy cannot retry a half-sent answer)
    assert availability["measured"] >= 0.995, report["load"]
    # and traffic went home once region a was back
    home = two_regions.served()
    _infer(two_regions.state["gateway"]["http"], 10)
    assert _delta(home, two_regions.served(), "a") == 10
