"""The exit-code contract, from journals shaped like chaoslib's (including the cases `chaos run` passes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resilience.engine.session import FaultBook, RunPlan, RunSession
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
    return RunSession(
        RunPlan(experiment_path=Path("x.yaml"), work_dir=Path("/tmp")), book=FaultBook(faults=list(faults))
    )


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
    assert generator_notes(fine) == () and generator_notes(None) == ()
    notes = generator_notes(late)
    assert any("schedule lag p99 35.0 ms" in n for n in notes) and any("98% of a core" in n for n in notes)


def test_a_run_that_judged_no_slo_is_an_error_not_a_pass() -> None:
    r = assemble(journal(), session(landed()), [], None, {})
    assert (r.status, r.exit_code, r.verdict) == (RunStatus.ERRORED, ExitCode.FAULT_OR_ABORT, Verdict.ERROR)
    assert "no load ran" in r.reasons[0] and "`load` control" in r.reasons[0]


def test_a_run_that_injected_no_fault_is_an_error_not_a_pass() -> None:
    r = assemble(journal(), session(), [slo(Verdict.PASS)], None, {})
    assert (r.status, r.exit_code) == (RunStatus.ERRORED, ExitCode.FAULT_OR_ABORT)
    assert "injected no fault" in r.reasons[0]


def test_a_run_that_broke_is_an_error_whatever_its_journal_says() -> None:
    s = session(landed())
    s.outcome.errors.append("the load control raised ValidationError: rate must be > 0")
    r = assemble(journal(), s, [slo(Verdict.PASS)], None, {})
    assert (r.status, r.exit_code, r.verdict) == (RunStatus.ERRORED, ExitCode.FAULT_OR_ABORT, Verdict.ERROR)
    assert r.reasons[0] == "the run broke: the load control raised ValidationError: rate must be > 0"


def test_a_failed_rollback_is_reported_after_an_abort_and_a_stop_condition_too() -> None:
    r = assemble(journal(status="interrupted", rollback="failed"), session(landed()), [], None, {})
    assert r.exit_code is ExitCode.FAULT_OR_ABORT
    assert any("rollback 'ready' failed" in why and "resilience recover" in why for why in r.reasons)
    s = session(landed())
    s.outcome.stopped_by, s.book.rollback_failures = (
        "latency-p99 burned 20x",
        ["region-partition on region b (nft: busy)"],
    )
    r = assemble(journal(), s, [slo(Verdict.PASS)], None, {})
    assert (r.status, r.exit_code) == (RunStatus.ABORTED, ExitCode.FAULT_OR_ABORT)  # 1 without the lost rollback
    assert r.reasons[1] == "could not roll back region-partition on region b (nft: busy); run `resilience recover`"


def test_an_slo_that_held_at_half_the_declared_rate_is_inconclusive() -> None:
    from resilience.model import LoadSummary

    half = LoadSummary(1000, 0, 20.0, 100.0, 50.0, 1.0, 3.0)
    r = assemble(journal(), session(landed()), [slo(Verdict.PASS), slo(Verdict.FAIL)], half, {})
    assert [x.verdict for x in r.slos] == [Verdict.INCONCLUSIVE, Verdict.FAIL]  # a failure stays a failure
    assert "judged at only 50 of the declared 100 req/s" in r.slos[0].detail
    assert (r.exit_code, r.verdict) == (ExitCode.SLO_FAILED, Verdict.FAIL)
    r = assemble(journal(), session(landed()), [slo(Verdict.PASS)], half, {})
    assert (r.exit_code, r.verdict, r.status) == (ExitCode.SLO_FAILED, Verdict.INCONCLUSIVE, RunStatus.COMPLETED)
    near = LoadSummary(1900, 0, 20.0, 100.0, 95.0, 1.0, 3.0)  # Poisson noise and a short tail: still the load
    assert assemble(journal(), session(landed()), [slo(Verdict.PASS)], near, {}).exit_code is ExitCode.OK


def test_a_fault_the_platform_did_not_answer_as_expected_fails_the_run() -> None:
    kept = FaultRecord(
        FaultKind.BAD_CANARY, "canary v2", 1.0, landed=True, unmet="the platform did not roll back the bad canary"
    )
    r = assemble(journal(), session(kept), [slo(Verdict.PASS)], None, {})
    assert (r.status, r.exit_code, r.verdict) == (RunStatus.DEVIATED, ExitCode.SLO_FAILED, Verdict.FAIL)
    assert "did not answer fault bad-canary on canary v2 as expected: the platform did not roll back" in r.reasons[0]


def test_reasons_quote_the_exception_message_without_class_names() -> None:
    from resilience.engine.verdict import exception_text

    entry = {"exception": ["Traceback ...\n", "chaoslib.exceptions.ActivityFailed: ActivityFailed: no pod matches a\n"]}
    assert exception_text(entry) == "no pod matches a"
    assert exception_text({"exception": ["resilience.errors.FaultError: region b: no pod\n"]}) == "region b: no pod"
    assert exception_text({}) == "?"
