"""A real suite and the release gate: aggregated verdict, score, JUnit with every experiment, baseline regression."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import JUnitXml

from tests.integration.conftest import ROOT, Platform, short_experiment

pytestmark = pytest.mark.integration


def _suite(tmp_path: Path) -> Path:
    def hang(exp: dict[str, Any]) -> None:
        exp["method"][0]["provider"]["func"] = "hang_pods"
        exp["method"][0]["provider"]["arguments"] = {"duration_s": 1, "count": 1}

    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    kill = short_experiment(tmp_path / "one")
    frozen = short_experiment(tmp_path / "two", hang)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        yaml.safe_dump(
            {"name": "t", "experiments": [{"path": str(kill), "weight": 2}, {"path": str(frozen), "weight": 1}]}
        )
    )
    return suite


def test_a_suite_runs_every_experiment_and_the_gate_fails_a_regression(platform: Platform, tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    out = tmp_path / "run1"
    result = platform.cli("suite", str(suite), "--report-dir", str(out), timeout=400)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    data = json.loads((out / "suite.json").read_text())
    assert [Path(e["experiment"]["path"]).parent.name for e in data["experiments"]] == ["one", "two"]
    assert data["exit_code"] == result.returncode == max(e["exit_code"] for e in data["experiments"])
    passed = [sum(s["verdict"] == "pass" for s in e["slos"]) / len(e["slos"]) for e in data["experiments"]]
    assert data["score"] == pytest.approx(100 * (2 * passed[0] + passed[1]) / 3, abs=0.05)
    assert "resilience score" in result.stdout
    junit = JUnitXml.fromfile(str(out / "report.xml"))
    # (2 SLOs + 1 fault + the run's verdict) x 2, and the suite's own verdict
    assert len(list(junit)) == 3 and sum(s.tests for s in junit) == 9
    word = {0: "PASS", 1: "FAIL"}[result.returncode]
    assert f"suite t: **{word}** (exit {result.returncode})" in (out / "report.md").read_text().splitlines()[0]

    # the gate against a baseline whose p99 was 20x better: a regression fails it even if the SLOs pass
    baseline = json.loads((out / "suite.json").read_text())
    for e in baseline["experiments"]:
        for s in e["slos"]:
            if s["unit"] == "ms":
                s["measured"] = s["measured"] / 20
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    gated = platform.cli(
        "gate",
        str(suite),
        "--report-dir",
        str(tmp_path / "run2"),
        "--baseline",
        str(tmp_path / "baseline.json"),
        timeout=400,
    )
    assert gated.returncode == 1, gated.stdout + gated.stderr
    reasons = json.loads((tmp_path / "run2" / "suite.json").read_text())["reasons"]
    assert any("regression against the baseline" in r and "latency-p99" in r for r in reasons), reasons
    # and every artefact a CI system shows says so: the console, report.md (the step summary), report.xml
    assert "gate: FAIL (exit 1)" in gated.stdout and "regression against the baseline" in gated.stdout
    assert "gate t: **FAIL** (exit 1)" in (tmp_path / "run2" / "report.md").read_text().splitlines()[0]
    (verdict,) = [s for s in JUnitXml.fromfile(str(tmp_path / "run2" / "report.xml")) if s.name == "suite t"]
    assert verdict.failures == 1 and "regression against the baseline" in next(iter(verdict)).result[0].message


def test_the_gate_refuses_bad_input_before_running_anything(platform: Platform, tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = platform.cli("gate", str(suite), "--baseline", str(bad))
    assert result.returncode == 2 and "suite.json" in result.stderr
    missing = platform.cli("suite", str(ROOT / "nope.yaml"))
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr
