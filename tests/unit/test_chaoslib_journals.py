"""Real chaoslib runs for the three cases where `chaos run` exits 0 but a release gate must not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chaoslib.experiment import run_experiment
from chaoslib.types import Schedule, Strategy

from resilience.engine.session import RunSession
from resilience.engine.verdict import decide, hypothesis_checks
from resilience.model import ExitCode, RunStatus
from tests.unit import ctk_doubles

MOD = "tests.unit.ctk_doubles"


def _experiment(method: list[dict[str, Any]]) -> dict[str, Any]:
    probe = {
        "type": "probe",
        "name": "slo-met",
        "tolerance": True,
        "provider": {"type": "python", "module": MOD, "func": "scripted_probe"},
    }
    return {
        "title": "t",
        "description": "d",
        "steady-state-hypothesis": {"title": "h", "probes": [probe]},
        "method": method,
    }


def _action(func: str, **arguments: Any) -> dict[str, Any]:
    return {
        "type": "action",
        "name": func,
        "provider": {"type": "python", "module": MOD, "func": func, "arguments": arguments},
    }


def _run(exp: dict[str, Any], strategy: Strategy = Strategy.DEFAULT) -> dict[str, Any]:
    journal: dict[str, Any] = run_experiment(
        exp, settings={}, strategy=strategy, schedule=Schedule(continuous_hypothesis_frequency=0.1, fail_fast=False)
    )
    return journal


def _decide(journal: dict[str, Any]) -> tuple[RunStatus, ExitCode, list[str]]:
    run = RunSession(experiment_path=Path("x.yaml"), work_dir=Path("/tmp"))
    return decide(journal, run, [], hypothesis_checks(journal))


@pytest.fixture(autouse=True)
def _quiet_chaoslib() -> None:
    import logging

    logging.getLogger("chaostoolkit").setLevel(logging.CRITICAL)


def test_baseline_already_failing() -> None:
    ctk_doubles.script(False)
    journal = _run(_experiment([_action("wait", seconds=0.01)]))
    assert journal["run"] == []  # chaoslib skipped the method...
    status, code, _ = _decide(journal)
    assert (status, code) == (RunStatus.BASELINE_FAILED, ExitCode.SLO_FAILED)  # ...and we fail the run


def test_action_raised_so_the_fault_never_landed() -> None:
    ctk_doubles.script(True)
    journal = _run(_experiment([_action("fault_that_never_lands")]))
    assert journal["status"] == "completed" and journal["deviated"] is False  # what chaos run exits 0 on
    status, code, reasons = _decide(journal)
    assert (status, code) == (RunStatus.FAULT_FAILED, ExitCode.FAULT_OR_ABORT)
    assert "no running pod matches" in reasons[0]


def test_transient_deviation_during_the_method_that_recovers() -> None:
    ctk_doubles.script(True, True, False, True)  # baseline ok, then one bad check during the method
    journal = _run(_experiment([_action("wait", seconds=0.6)]), Strategy.CONTINUOUS)
    during = journal["steady_states"]["during"]
    assert any(not d["steady_state_met"] for d in during) and journal["steady_states"]["after"]["steady_state_met"]
    assert journal["deviated"] is False  # recovered by the end: chaos run would exit 0
    status, code, reasons = _decide(journal)
    assert (status, code) == (RunStatus.DEVIATED, ExitCode.SLO_FAILED)
    assert "deviated during" in reasons[0]


def test_clean_run() -> None:
    ctk_doubles.script(True)
    journal = _run(_experiment([_action("wait", seconds=0.01)]))
    assert _decide(journal)[:2] == (RunStatus.COMPLETED, ExitCode.OK)
