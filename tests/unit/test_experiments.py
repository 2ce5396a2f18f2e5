"""Every shipped experiment validates; malformed ones fail with file, field and fix, exit code 2."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from resilience.engine.experiment import load_experiment, validate
from resilience.errors import ExperimentError

ROOT = Path(__file__).resolve().parents[2]
SUITES = sorted(p for p in (ROOT / "experiments").glob("*.yaml") if "method" not in yaml.safe_load(p.read_text()))
EXPERIMENTS = sorted(p for p in (ROOT / "experiments").glob("*.yaml") if p not in SUITES)
POD_KILL = ROOT / "experiments" / "pod-kill.yaml"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_every_shipped_experiment_is_valid(path: Path) -> None:
    experiment, catalogue = load_experiment(path)
    assert experiment["title"]
    assert catalogue  # resolved against probes/slos.yaml


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.name)
def test_every_shipped_suite_is_valid_and_names_valid_experiments(path: Path) -> None:
    from resilience.engine.suite import load_suite

    suite = load_suite(path)
    assert suite.experiments and all((path.parent / e.path) in EXPERIMENTS for e in suite.experiments)


def test_suite_bad_input_names_file_field_and_fix(tmp_path: Path) -> None:
    from resilience.engine.suite import load_suite
    from resilience.errors import UsageError

    bad = tmp_path / "suite.yaml"
    bad.write_text("name: x\nexperiments: [{path: nowhere.yaml}]\n")
    with pytest.raises(UsageError, match=r"experiments\[0\]\.path: nowhere.yaml does not exist"):
        load_suite(bad)
    bad.write_text("name: x\nexperiments: [{path: a.yaml, weight: -1}]\n")
    with pytest.raises(UsageError, match=r"experiments\[0\]\.weight"):
        load_suite(bad)
    assert len(SUITES) == 2 and len(EXPERIMENTS) == 8


def _pod_kill() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(POD_KILL.read_text())
    return data


def _break(mutate: Any) -> dict[str, Any]:
    exp = copy.deepcopy(_pod_kill())
    mutate(exp)
    return exp


CASES = [
    (
        lambda e: e["method"][0]["provider"]["arguments"].update(cuont=1),
        "method[0].provider.arguments.cuont",
        "remove it; kill_pods takes",
    ),
    (
        lambda e: e["method"][0]["provider"]["arguments"].update(count="two"),
        "method[0].provider.arguments.count",
        "'two'",
    ),
    (
        lambda e: e["steady-state-hypothesis"]["probes"][0]["provider"]["arguments"].update(slo="availabilty"),
        "steady-state-hypothesis.probes[0].provider.arguments.slo",
        "unknown SLO 'availabilty'",
    ),
    (
        lambda e: e["controls"][0]["provider"]["arguments"].update(rate=-5),
        "controls[0].provider.arguments.rate",
        "greater than 0",
    ),
    (
        lambda e: e["controls"][0]["provider"]["arguments"].update(slos=["latency-p999"]),
        "controls[0].provider.arguments.slos[0]",
        "unknown SLO",
    ),
    (lambda e: e.pop("controls"), "controls", "add one"),
    (lambda e: e.pop("title"), "`title` is missing", "needs it"),
    (  # chaoslib would run this with no hypothesis at all
        lambda e: e.update({"steady-state-hypotesis": e.pop("steady-state-hypothesis")}),
        "`steady-state-hypotesis` is not a Chaos Toolkit experiment key",
        "did you mean `steady-state-hypothesis`?",
    ),
]


@pytest.mark.parametrize(("mutate", "field", "fix"), CASES, ids=[c[1] for c in CASES])
def test_malformed_experiment_names_the_field_and_the_fix(mutate: Any, field: str, fix: str) -> None:
    with pytest.raises(ExperimentError) as exc:
        validate(POD_KILL, _break(mutate))
    message = str(exc.value)
    assert str(POD_KILL) in message
    assert field in message
    assert fix in message


def test_chaoslib_own_checks_still_apply() -> None:
    exp = _break(lambda e: e["method"][0].pop("provider"))
    with pytest.raises(ExperimentError, match="provider"):
        validate(POD_KILL, exp)


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resilience.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_cli_exits_2_on_a_malformed_experiment_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_break(lambda e: e["method"][0]["provider"]["arguments"].update(count=0.5))))
    result = _cli("run", str(bad), "--report-dir", str(tmp_path / "r"))
    assert result.returncode == 2, result.stderr
    assert "method[0].provider.arguments.count" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "r").exists()  # nothing started, nothing written


def test_cli_exits_2_on_invalid_yaml_and_on_a_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: [unclosed\n")
    result = _cli("run", str(bad))
    assert result.returncode == 2 and "not valid YAML" in result.stderr
    missing = _cli("run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_cli_exits_2_on_bad_usage() -> None:
    result = _cli("run")
    assert result.returncode == 2 and "Missing argument" in result.stderr
    result = _cli("run", str(POD_KILL), "--hypothesis-strategy", "continously")
    assert result.returncode == 2 and "continuous" in result.stderr
