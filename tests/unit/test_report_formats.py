"""JUnit XML (read back with a real JUnit parser) and Markdown from a RunReport."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml

from resilience.model import ExitCode, FaultKind, FaultRecord, RunReport, RunStatus, SLIKind, SLOResult, Verdict
from resilience.report import to_markdown, write_junit, write_markdown


def _slo(name: str, verdict: Verdict, measured: float) -> SLOResult:
    return SLOResult(
        name,
        SLIKind.LATENCY,
        "p99 <= 15 ms",
        measured,
        "ms",
        verdict,
        4983,
        0,
        50,
        "36 of 4983 over 15 ms",
        confidence=0.975,
    )


def _report(*slos: SLOResult, faults: tuple[FaultRecord, ...] = (), code: ExitCode = ExitCode.SLO_FAILED) -> RunReport:
    return RunReport(
        title="Kill a replica | keep SLOs",
        experiment_path="experiments/pod-kill.yaml",
        started_at=1_800_000_000.0,
        ended_at=1_800_000_052.0,
        status=RunStatus.COMPLETED,
        verdict=Verdict.FAIL,
        exit_code=code,
        reasons=("SLO latency-p99 is inconclusive",),
        slos=slos,
        faults=faults,
        load=None,
    )


def test_junit_has_a_testcase_per_slo_and_fault_with_measured_vs_objective(tmp_path: Path) -> None:
    kill = FaultRecord(FaultKind.POD_KILL, "pod a-0", 1.0, True, {"killed_pid": 42})
    lost = FaultRecord(FaultKind.REGION_PARTITION, "region a", 2.0, False, {}, error="no packet dropped")
    report = _report(
        _slo("availability", Verdict.PASS, 1.0),
        _slo("latency-p99", Verdict.INCONCLUSIVE, 14.29),
        _slo("latency-p50", Verdict.FAIL, 30.0),
        faults=(kill, lost),
    )
    path = tmp_path / "report.xml"
    write_junit([report], path)
    xml = JUnitXml.fromfile(str(path))
    (suite,) = list(xml)
    cases = {c.name: c for c in suite}
    assert suite.name == "pod-kill" and suite.tests == 6 and suite.failures == 3 and suite.errors == 1
    (run,) = cases["run"].result  # the run's own verdict (exit 1): a failure with its reasons
    assert isinstance(run, Failure) and run.message == "SLO latency-p99 is inconclusive"
    assert cases["SLO availability: p99 <= 15 ms"].is_passed
    (inconclusive,) = cases["SLO latency-p99: p99 <= 15 ms"].result
    assert isinstance(inconclusive, Failure) and inconclusive.type == "inconclusive"
    assert "measured 14.29 ms vs p99 <= 15 ms" in inconclusive.message and "confidence 97.5%" in inconclusive.message
    (failed,) = cases["SLO latency-p50: p99 <= 15 ms"].result
    assert isinstance(failed, Failure) and failed.type == "slo-failed"
    assert cases["fault pod-kill: pod a-0"].is_passed
    (not_landed,) = cases["fault region-partition: region a"].result
    assert isinstance(not_landed, Error) and "no packet dropped" in not_landed.message


def test_an_aborted_run_is_a_junit_error(tmp_path: Path) -> None:
    path = tmp_path / "report.xml"
    write_junit([_report(code=ExitCode.FAULT_OR_ABORT)], path)
    (suite,) = list(JUnitXml.fromfile(str(path)))
    (case,) = list(suite)
    assert case.name == "run" and isinstance(case.result[0], Error)


def test_markdown_has_the_slo_table_and_goes_to_the_github_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _report(_slo("latency-p99", Verdict.INCONCLUSIVE, 14.29))
    text = to_markdown(report)
    assert "| SLO | objective | measured | samples | confidence |" in text
    assert "| latency-p99 | p99 <= 15 ms | 14.29 ms | 4,983 | 97.5% |" in text
    assert "Kill a replica \\| keep SLOs" in text  # a pipe in a title cannot break the table
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_markdown([report], tmp_path / "report.md")
    assert summary.read_text().startswith("earlier step\n") and text in summary.read_text()
    assert (tmp_path / "report.md").read_text().strip() == text.strip()
