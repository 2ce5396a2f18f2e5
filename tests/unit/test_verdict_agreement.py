"""One decision, rendered everywhere: report.json, report.xml, report.md, the console and the exit code agree
for every way a run (or a suite, or the gate) can end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml
from rich.console import Console

from resilience.engine.session import RunPlan, RunSession
from resilience.engine.suite import aggregate
from resilience.engine.verdict import assemble
from resilience.model import (
    ExitCode,
    FaultKind,
    FaultRecord,
    LoadSummary,
    RunReport,
    SuiteReport,
    SuiteRun,
    Verdict,
)
from resilience.report import (
    render_console,
    render_suite_console,
    suite_header,
    write_json,
    write_junit,
    write_markdown,
    write_suite_json,
)
from tests.unit.test_verdict import journal, slo

LOAD = LoadSummary(3000, 0, 30.0, 100.0, 100.0, 1.0, 3.0)


def _session(faults: int = 1, **fields: Any) -> RunSession:
    run = RunSession(RunPlan(experiment_path=Path("pod-kill.yaml"), work_dir=Path("/tmp")))
    run.book.faults = [FaultRecord(FaultKind.POD_KILL, f"pod a-{i}", 1.0, True) for i in range(faults)]
    for name, value in fields.items():
        setattr(run.outcome, name, value)  # stopped_by, errors
    return run


CASES: dict[str, tuple[dict[str, Any], RunSession, list[Verdict], LoadSummary | None, ExitCode]] = {
    "pass": (journal(), _session(), [Verdict.PASS], LOAD, ExitCode.OK),
    "slo failed": (journal(), _session(), [Verdict.FAIL], LOAD, ExitCode.SLO_FAILED),
    "slo inconclusive": (journal(), _session(), [Verdict.INCONCLUSIVE], LOAD, ExitCode.SLO_FAILED),
    "half the load": (journal(), _session(), [Verdict.PASS], LOAD.__class__(1500, 0, 30, 100, 50, 1, 3), ExitCode(1)),
    "baseline failed": (journal(before=False, after=None), _session(0), [Verdict.PASS], LOAD, ExitCode.SLO_FAILED),
    "deviated": (journal(during=[True, False]), _session(), [Verdict.PASS], LOAD, ExitCode.SLO_FAILED),
    "fault failed": (journal(action_status="failed"), _session(0), [Verdict.PASS], LOAD, ExitCode.FAULT_OR_ABORT),
    "interrupted": (journal(status="interrupted"), _session(), [], None, ExitCode.FAULT_OR_ABORT),
    "stop condition": (journal(), _session(stopped_by="burn 20x"), [Verdict.PASS], LOAD, ExitCode.SLO_FAILED),
    "rollback lost": (journal(rollback="failed"), _session(), [Verdict.PASS], LOAD, ExitCode.FAULT_OR_ABORT),
    "crashed": (journal(), _session(errors=["chaoslib raised KeyError"]), [], None, ExitCode.FAULT_OR_ABORT),
    "no slo": (journal(), _session(), [], None, ExitCode.FAULT_OR_ABORT),
    "no fault": (journal(), _session(0), [Verdict.PASS], LOAD, ExitCode.FAULT_OR_ABORT),
}


def _console(renderable: Any) -> str:
    out = Console(record=True, width=200)
    out.print(renderable)
    return out.export_text()


def _junit_verdict(path: Path) -> str:
    """pass, fail or error, as a CI server reading report.xml would conclude."""
    xml = JUnitXml.fromfile(str(path))
    results = [r for suite in xml for case in suite for r in case.result]
    if any(isinstance(r, Error) for r in results):
        return "error"
    return "fail" if any(isinstance(r, Failure) for r in results) else "pass"


@pytest.mark.parametrize("case", CASES)
def test_every_format_and_the_exit_code_agree_on_a_run(case: str, tmp_path: Path) -> None:
    j, run, verdicts, load, code = CASES[case]
    report = assemble(j, run, [slo(v) for v in verdicts], load, {})
    assert report.exit_code is code, report.reasons
    word = {0: "pass", 1: "fail"}.get(int(code), "error")
    write_json(report, tmp_path / "report.json")
    write_junit([report], tmp_path / "report.xml")
    write_markdown([report], tmp_path / "report.md")
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["exit_code"] == int(code) and data["verdict"] == report.verdict.value
    # a run is inconclusive only where it would otherwise fail: same exit code, same CI outcome
    assert report.verdict.value == word or (word == "fail" and report.verdict is Verdict.INCONCLUSIVE)
    assert _junit_verdict(tmp_path / "report.xml") == word
    assert f"**{report.verdict.value.upper()}** (exit {int(code)}" in (tmp_path / "report.md").read_text()
    text = _console(render_console(report))
    assert f"verdict: {report.verdict.value.upper()} (exit {int(code)}" in text
    for reason in report.reasons:  # every reason is in every human-readable format
        assert reason in (tmp_path / "report.md").read_text().replace("\\|", "|")
        assert re.sub(r"\s+", " ", reason) in re.sub(r"\s+", " ", text)


def _suite(extra: list[str], *codes: ExitCode) -> SuiteReport:
    runs = []
    for i, code in enumerate(codes):
        j, run, verdicts, load, _ = next(c for c in CASES.values() if c[4] is code)
        report: RunReport = assemble(j, run, [slo(v) for v in verdicts], load, {})
        runs.append(SuiteRun(f"e{i}.yaml", 1.0, report))
    return aggregate("ci", runs, extra)


@pytest.mark.parametrize(
    ("extra", "codes", "want"),
    [
        ([], [ExitCode.OK, ExitCode.OK], ExitCode.OK),
        ([], [ExitCode.OK, ExitCode.SLO_FAILED], ExitCode.SLO_FAILED),
        (["against the baseline: e0.yaml latency-p99: 90.69 ms vs baseline 60.00 ms (+51% > 10%)"], [ExitCode.OK], 1),
        ([], [ExitCode.OK, ExitCode.FAULT_OR_ABORT], ExitCode.FAULT_OR_ABORT),
    ],
)
def test_the_gate_and_suite_reports_agree_with_the_exit_code(
    extra: list[str], codes: list[ExitCode], want: int, tmp_path: Path
) -> None:
    """The gate's regression used to be only in suite.json: report.md said pass, report.xml had no failure."""
    suite = _suite(extra, *codes)
    assert suite.exit_code == want
    word = {0: "pass", 1: "fail"}.get(want, "error")
    write_suite_json(suite, tmp_path / "suite.json")
    write_junit([r.report for r in suite.runs], tmp_path / "report.xml", suite=suite)
    write_markdown([r.report for r in suite.runs], tmp_path / "report.md", header=suite_header(suite, gate=True))
    data = json.loads((tmp_path / "suite.json").read_text())
    assert (data["exit_code"], data["verdict"]) == (want, word)
    assert _junit_verdict(tmp_path / "report.xml") == word
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("## ") and f"gate ci: **{word.upper()}** (exit {want})" in md.splitlines()[0]
    text = _console(render_suite_console(suite, gate=True))
    assert f"gate: {word.upper()} (exit {want})" in text
    for reason in extra:
        assert reason in md and reason in text and reason in data["suite_reasons"]
        xml = JUnitXml.fromfile(str(tmp_path / "report.xml"))
        (verdict_suite,) = [s for s in xml if s.name == "suite ci"]
        (case,) = list(verdict_suite)
        assert isinstance(case.result[0], Failure) and reason in case.result[0].message
