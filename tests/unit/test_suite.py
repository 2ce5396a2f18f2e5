"""Suite aggregation (verdict, resilience score) and the gate's baseline comparison."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from resilience.engine.suite import Tolerances, aggregate, regressions
from resilience.model import (
    EventKind,
    ExitCode,
    FaultKind,
    FaultRecord,
    LoadSummary,
    RunEvent,
    RunReport,
    RunStatus,
    SLIKind,
    SLOResult,
    SuiteReport,
    SuiteRun,
    Verdict,
)
from resilience.report import suite_to_dict
from resilience.report.json_report import suite_from_dict


def _run(path: str, code: ExitCode, *verdicts: Verdict, p99: float = 10.0, spent: float = 0.1) -> RunReport:
    slos = tuple(
        SLOResult(f"slo{i}", SLIKind.LATENCY, "p99 <= 15 ms", p99, "ms", v, 5000, 0, 1, budget_consumed=spent)
        for i, v in enumerate(verdicts)
    )
    verdict = {ExitCode.OK: Verdict.PASS, ExitCode.SLO_FAILED: Verdict.FAIL}.get(code, Verdict.ERROR)
    return RunReport("t", path, 0, 1, RunStatus.COMPLETED, verdict, code, (), slos, (), None)


def test_score_is_the_weighted_slo_pass_ratio_and_a_broken_run_scores_zero() -> None:
    runs = [
        SuiteRun("a.yaml", 2, _run("a.yaml", ExitCode.OK, Verdict.PASS, Verdict.PASS)),
        SuiteRun("b.yaml", 1, _run("b.yaml", ExitCode.SLO_FAILED, Verdict.PASS, Verdict.INCONCLUSIVE)),
        SuiteRun("c.yaml", 1, _run("c.yaml", ExitCode.FAULT_OR_ABORT, Verdict.PASS)),
    ]
    suite = aggregate("s", runs)
    assert suite.score == 100 * (2 * 1.0 + 1 * 0.5 + 1 * 0.0) / 4  # 62.5
    assert suite.exit_code is ExitCode.FAULT_OR_ABORT  # the worst: a fault that did not land
    assert aggregate("s", runs[:2]).exit_code is ExitCode.SLO_FAILED
    assert aggregate("s", runs[:1]).exit_code is ExitCode.OK
    assert aggregate("s", runs[:1], ["regression"]).exit_code is ExitCode.SLO_FAILED  # passing SLOs, still a fail


def _through_json(suite: SuiteReport) -> SuiteReport:
    """What the gate reads back from a suite.json that a suite wrote."""
    return suite_from_dict(json.loads(json.dumps(suite_to_dict(suite))))


def test_suite_json_reads_back_as_the_report_it_was_written_from() -> None:
    report = replace(
        _run("x/a.yaml", ExitCode.OK, Verdict.PASS, p99=10.5),
        faults=(FaultRecord(FaultKind.POD_KILL, "pod a-0", 1.0, True, {"pid": 3}, 2.0),),
        load=LoadSummary(5000, 0, 50.0, 100.0, 99.9, 1.5, 3.0, {"timeout": 1}),
        events=(RunEvent(0.5, EventKind.NOTE, "watch the gateway"),),
    )
    suite = aggregate("s", [SuiteRun("a.yaml", 2, report)], ["why"])
    again = _through_json(suite)
    assert again == replace(suite, runs=tuple(replace(r, report=replace(r.report, experiment={})) for r in suite.runs))
    assert again.verdict is suite.verdict and again.runs[0].report.slos == suite.runs[0].report.slos


def test_a_baseline_of_another_schema_is_refused_naming_it(tmp_path: Path) -> None:
    import pytest

    from resilience.engine.suite import read_baseline
    from resilience.errors import UsageError

    data = suite_to_dict(aggregate("s", [SuiteRun("a.yaml", 1, _run("x/a.yaml", ExitCode.OK, Verdict.PASS))]))
    data["experiments"][0]["schema_version"] = 99
    path = tmp_path / "base.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=r"base.json: schema_version 99; this version reads 1"):
        read_baseline(path)


def test_regressions_beyond_tolerance_fail_even_when_slos_pass() -> None:
    baseline = _through_json(aggregate("s", [SuiteRun("a.yaml", 1, _run("x/a.yaml", ExitCode.OK, Verdict.PASS))]))
    same = aggregate("s", [SuiteRun("a.yaml", 1, _run("y/a.yaml", ExitCode.OK, Verdict.PASS, p99=10.9))])
    slower = aggregate("s", [SuiteRun("a.yaml", 1, _run("y/a.yaml", ExitCode.OK, Verdict.PASS, p99=12.0))])
    burned = aggregate("s", [SuiteRun("a.yaml", 1, _run("y/a.yaml", ExitCode.OK, Verdict.PASS, spent=0.35))])
    tol = Tolerances(latency_regression=0.10, budget_increase=0.10)
    assert regressions(same, baseline, tol) == []
    (slow,) = regressions(slower, baseline, tol)
    assert "12.00 ms vs baseline 10.00 ms (+20% > 10%)" in slow
    (budget,) = regressions(burned, baseline, tol)
    assert "error budget spent 35% vs baseline 10%" in budget


def test_the_gate_never_skips_what_the_baseline_cannot_vouch_for(tmp_path: Path) -> None:
    import pytest

    from resilience.engine.suite import check_baseline_covers, load_suite
    from resilience.errors import UsageError

    baseline = _through_json(aggregate("s", [SuiteRun("a.yaml", 1, _run("x/a.yaml", ExitCode.OK, Verdict.PASS))]))
    renamed = aggregate("s", [SuiteRun("b.yaml", 1, _run("y/b.yaml", ExitCode.OK, Verdict.PASS))])
    (missing,) = regressions(renamed, baseline, Tolerances())
    assert missing == "b.yaml slo0: not in the baseline, so it cannot be compared; refresh the baseline"
    assert aggregate("s", list(renamed.runs), [missing]).exit_code is ExitCode.SLO_FAILED
    (tmp_path / "b.yaml").write_text("title: b\n")
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text("name: s\nexperiments:\n  - path: b.yaml\n")
    suite = load_suite(suite_file)
    for empty in (baseline, aggregate("s", [])):  # matches none of the suite's experiments: bad input, exit 2
        with pytest.raises(UsageError, match=r"has SLO results for none of .*suite.yaml's experiments \(b.yaml"):
            check_baseline_covers(suite_file, suite, empty, tmp_path / "base.json")
    check_baseline_covers(suite_file, suite, _through_json(renamed), tmp_path / "base.json")  # covers: no error
