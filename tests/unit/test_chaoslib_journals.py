"""Real chaoslib runs for the cases where `chaos run` exits 0 but a release gate must not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chaoslib.experiment import run_experiment
from chaoslib.types import Schedule, Strategy

from resilience.engine.session import RunPlan, RunSession
from resilience.engine.verdict import decide, hypothesis_checks
from resilience.model import ExitCode, FaultKind, FaultRecord, RunStatus, SLIKind, SLOResult, Verdict
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


HELD = SLOResult("availability", SLIKind.AVAILABILITY, ">= 99.9%", 1.0, "ratio", Verdict.PASS, 5000, 0, 50)


def _decide(
    journal: dict[str, Any], faults: int = 1, slos: list[SLOResult] | None = None, run: RunSession | None = None
) -> tuple[RunStatus, ExitCode, list[str]]:
    """Decide with what a run with load measured: `faults` landed faults and `slos` (one that held by default)."""
    run = run or RunSession(RunPlan(experiment_path=Path("x.yaml"), work_dir=Path("/tmp")))
    run.book.faults += [FaultRecord(FaultKind.POD_KILL, f"pod a-{i}", 1.0, True) for i in range(faults)]
    return decide(journal, run, [HELD] if slos is None else slos, hypothesis_checks(journal))


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


def test_no_slo_and_no_fault_is_never_a_pass() -> None:
    ctk_doubles.script(True)
    journal = _run(_experiment([_action("wait", seconds=0.01)]))
    assert journal["status"] == "completed"  # what chaos run exits 0 on
    status, code, reasons = _decide(journal, faults=0, slos=[])
    assert (status, code) == (RunStatus.ERRORED, ExitCode.FAULT_OR_ABORT)
    assert "no load ran" in reasons[0] and "injected no fault" in reasons[1]


def test_a_load_control_that_raises_anything_breaks_the_run(tmp_path: Path) -> None:
    """chaoslib logs a control's exception at debug level and runs on: ours records it and the run errors."""
    from resilience.engine import session

    run = session.begin(RunSession(RunPlan(experiment_path=tmp_path / "x.yaml", work_dir=tmp_path)))
    try:
        ctk_doubles.script(True)
        exp = _experiment([_action("wait", seconds=0.01)])
        exp["controls"] = [
            {
                "name": "load",
                "provider": {"type": "python", "module": "resilience.ctk.controls", "arguments": {"rate": -5}},
            }
        ]
        journal = _run(exp)
    finally:
        session.end()
    assert run.measured.load is None and "ValidationError" in run.outcome.errors[0]  # pydantic's, not a ResilienceError
    status, code, reasons = _decide(journal, run=run)
    assert (status, code) == (RunStatus.ERRORED, ExitCode.FAULT_OR_ABORT)
    assert reasons[0].startswith("the run broke: the load") and "rate" in reasons[0]


def test_an_action_outside_a_run_says_what_is_missing_and_opens_no_session() -> None:
    """Nothing opens a run implicitly: an action or probe with no run open (an experiment without the load
    control under `chaos run`) fails naming the control to add; only the load control opens one."""
    from resilience.engine import session
    from resilience.errors import NoRunError

    assert session.peek() is None
    with pytest.raises(NoRunError, match=r"resilience\.ctk\.controls"):
        session.current()
    assert session.peek() is None
    opened = session.open_for_chaos_run()
    try:
        assert session.current() is opened and session.open_for_chaos_run() is opened
        assert opened.plan.experiment_path is None and opened.plan.work_dir.parts[-3:-1] == (".resilience", "runs")
    finally:
        session.end()
    assert session.peek() is None
