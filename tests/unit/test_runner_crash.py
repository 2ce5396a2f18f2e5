"""A run whose engine (chaoslib) raises is an error in every report, never a pass from an empty journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, JUnitXml

from resilience.engine import runner
from resilience.model import ExitCode, RunStatus, Verdict

ROOT = Path(__file__).resolve().parents[2]


def test_chaoslib_raising_gives_an_error_report_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chaoslib.experiment

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:  # stands in for a bug inside chaoslib
        raise KeyError("steady-state-hypothesis")

    monkeypatch.setenv("RESILIENCE_STATE_DIR", str(tmp_path / "state"))  # no platform here: nothing to undo
    monkeypatch.setattr(runner, "_preflight", lambda experiment, target, allowed: None)
    monkeypatch.setattr(chaoslib.experiment, "run_experiment", broken)
    report = runner.run_file(ROOT / "experiments" / "pod-kill.yaml", tmp_path / "r")
    assert (report.status, report.exit_code, report.verdict) == (
        RunStatus.ERRORED,
        ExitCode.FAULT_OR_ABORT,
        Verdict.ERROR,
    )
    assert report.reasons[0].startswith("the run broke: chaoslib raised KeyError: 'steady-state-hypothesis'")
    assert "KeyError" in (tmp_path / "r" / "crash.txt").read_text()
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert (data["exit_code"], data["verdict"]) == (3, "error")
    (suite,) = list(JUnitXml.fromfile(str(tmp_path / "r" / "report.xml")))
    assert any(isinstance(r, Error) for case in suite for r in case.result)
    assert "**ERROR** (exit 3" in (tmp_path / "r" / "report.md").read_text()
