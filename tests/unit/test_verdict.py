"""The exit-code contract, from journals shaped like chaoslib's (including the cases `chaos run` passes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resilience.engine.session import RunSession
from resilience.engine.verdict import assemble
from resilience.model import ExitCode, FaultKind, FaultRecord, RunStatus, SLIKind, SLOResult, Verdict


def _state(met: bool, *names: str) -> dict[str, Any]:
    return {
        "steady_state_met": met,
        "probes": [{"activity": {"name": n}, "tolerance_met": met, "status": "succeeded"} for n in names],
    }


def journal(
    before: bool = True,
    after: bool | None = True,
    during: list[bool] | None = None,
    action_status: str = "succeeded",
    status: str = "completed",
    rollback: str = "succeeded",
) -> dict[str, Any]:
    return {
        "experiment": {"title": "t"},
        "status": status,
        "deviated": False,
        "steady_states": {
            "before": _state(before, "p99"),
            "after": None if after is None else _state(after, "p99"),
            "during": [_state(d, "p99") for d in during or []],
        },
        "run": [
            {
                "activity": {"type": "action", "name": "kill"},
                "status": action_status,
                "exception": ["Traceback...", "ActivityFailed: nothing matched\n"],
            }
        ],
        "rollbacks": [{"activity": {"type": "action", "name": "ready"}, "status": rollback}],
    }


def slo(verdict: Verdict) -> SLOResult:
    return SLOResult(
        "latency-p99",
        SLIKind.LATENCY,
        "p99 <= 15 ms",
        9.0 if verdict is Verdict.PASS else 30.0,
        "ms",
        verdict,
        1000,
        0,
        10,
    )


def landed(ok: bool = True) -> FaultRecord:
    return FaultRecord(FaultKind.POD_KILL, "pod a-0", 1.0, landed=ok, error=None if ok else "no exit seen")


def session(*faults: FaultRecord) -> RunSession:
    return RunSession(experiment_path=Path("x.yaml"), work_dir=Path("/tmp"), faults=list(faults))


def decide(j: dict[str, Any], s: RunSession, slos: list[SLOResult]) -> tuple[RunStatus, ExitCode, Verdict]:
    r = assemble(j, s, slos, None, {})
    return r.status, r.exit_code, r.verdict


def test_clean_run_passes() -> None:
    assert decide(journal(), session(landed()), [slo(Verdict.PASS)]) == (RunStatus.COMPLETED, ExitCode.OK, Verdict.PASS)


def test_baseline_already_failing_exits_1_even_though_chaos_says_completed() -> None:
    j = journal(before=False, after=None)
    assert decide(j, session(), [slo(Verdict.PASS)])[:2] == (RunStatus.BASELINE_FAILED, ExitCode.SLO_FAILED)


def test_a_failed_action_exits_3_even_though_chaos_says_completed() -> None:
    j = journal(action_status="failed")
    status, code, verdict = decide(j, session(), [slo(Verdict.PASS)])
    assert (status, code, verdict) == (RunStatus.FAULT_FAILED, ExitCode.FAULT_OR_ABORT, Verdict.ERROR)


def test_a_fault_without_evidence_exits_3() -> None:
    assert decide(journal(), session(landed(False)), [slo(Verdict.PASS)])[1] is ExitCode.FAULT_OR_ABORT


def test_a_transient_deviation_during_the_method_exits_1() -> None:
    j = journal(during=[True, False, True], after=True)
    assert decide(j, session(landed()), [slo(Verdict.PASS)])[:2] == (RunStatus.DEVIATED, ExitCode.SLO_FAILED)


def test_deviation_after_the_method_exits_1() -> None:
    assert decide(journal(after=False), session(landed()), [slo(Verdict.PASS)])[1] is ExitCode.SLO_FAILED


def test_a_failed_run_slo_exits_1_and_inconclusive_is_not_a_pass() -> None:
    assert decide(journal(), session(landed()), [slo(Verdict.FAIL)])[1] is ExitCode.SLO_FAILED
    assert decide(journal(), session(landed()), [slo(Verdict.INCONCLUSIVE)])[1] is ExitCode.SLO_FAILED


def test_interrupted_or_aborted_exits_3() -> None:
    for status in ("interrupted", "aborted"):
        assert decide(journal(status=status), session(), [])[1] is ExitCode.FAULT_OR_ABORT


def test_a_failed_rollback_exits_3() -> None:
    assert decide(journal(rollback="failed"), session(landed()), [slo(Verdict.PASS)])[1] is ExitCode.FAULT_OR_ABORT


def test_reasons_say_why() -> None:
    r = assemble(journal(action_status="failed"), session(), [], None, {})
    assert any("nothing matched" in reason for reason in r.reasons)


def test_an_interrupt_during_the_baseline_is_an_abort_not_a_baseline_failure() -> None:
    j = journal(before=False, after=None, status="interrupted")
    assert decide(j, session(), [])[:2] == (RunStatus.ABORTED, ExitCode.FAULT_OR_ABORT)


def test_the_report_says_when_the_generator_was_the_bottleneck() -> None:
    from resilience.engine.verdict import generator_notes
    from resilience.model import LoadSummary

    fine = LoadSummary(2000, 0, 20.0, 100.0, 99.5, 1.1, 3.0)
    late = LoadSummary(2000, 0, 20.0, 100.0, 99.5, 35.0, 19.5)
    short = LoadSummary(1000, 0, 20.0, 100.0, 50.0, 1.0, 3.0)
    assert generator_notes(fine) == () and generator_notes(None) == ()
    notes = generator_notes(late)
    assert any("schedule lag p99 35.0 ms" in n for n in notes) and any("98% of a core" in n for n in notes)
    assert generator_notes(short) == ("only 50 of 100 req/s were sent",)
