"""Suite aggregation (verdict, resilience score) and the gate's baseline comparison."""

from __future__ import annotations

from pathlib import Path

from resilience.engine.suite import Tolerances, aggregate, regressions
from resilience.model import ExitCode, RunReport, RunStatus, SLIKind, SLOResult, SuiteRun, Verdict
from resilience.report import suite_to_dict


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


def test_regressions_beyond_tolerance_fail_even_when_slos_pass() -> None:
    baseline = suite_to_dict(aggregate("s", [SuiteRun("a.yaml", 1, _run("x/a.yaml", ExitCode.OK, Verdict.PASS))]))
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

    baseline = suite_to_dict(aggregate("s", [SuiteRun("a.yaml", 1, _run("x/a.yaml", ExitCode.OK, Verdict.PASS))]))
    renamed = aggregate("s", [SuiteRun("b.yaml", 1, _run("y/b.yaml", ExitCode.OK, Verdict.PASS))])
    (missing,) = regressions(renamed, baseline, Tolerances())
    assert missing == "b.yaml slo0: not in the baseline, so it cannot be compared; refresh the baseline"
    assert aggregate("s", list(renamed.runs), [missing]).exit_code is ExitCode.SLO_FAILED
    (tmp_path / "b.yaml").write_text("title: b\n")
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text("name: s\nexperiments:\n  - path: b.yaml\n")
    suite = load_suite(suite_file)
    for empty in (baseline, {"experiments": []}):  # matches none of the suite's experiments: bad input, exit 2
        with pytest.raises(UsageError, match=r"has SLO results for none of .*suite.yaml's experiments \(b.yaml"):
            check_baseline_covers(suite_file, suite, empty, tmp_path / "base.json")
    check_baseline_covers(suite_file, suite, suite_to_dict(renamed), tmp_path / "base.json")  # covers: no error
