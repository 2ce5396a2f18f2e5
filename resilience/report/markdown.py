"""report.md: the run as Markdown, for a pull request, a wiki page or `$GITHUB_STEP_SUMMARY`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from resilience.model import EventKind, RunReport, SuiteReport
from resilience.report.console import evidence_text

_ICON = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "error": "💥"}


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: RunReport) -> str:
    lines = [
        f"### {_ICON.get(report.verdict.value, '')} {_cell(report.title)}",
        "",
        f"**{report.verdict.value.upper()}** (exit {int(report.exit_code)}, {report.status.value}) — `{report.experiment_path}`",
        "",
        "| SLO | objective | measured | samples | confidence | budget spent | TTD / TTR | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report.slos:
        conf = "-" if r.confidence is None else f"{r.confidence:.1%}"
        budget = "-" if r.budget_consumed is None else f"{r.budget_consumed:.0%}"
        ttd = r.detect_text
        ttr = "-" if r.time_to_recover_s is None else f"{r.time_to_recover_s:.2f} s"
        lines.append(
            f"| {_cell(r.name)} | {_cell(r.objective)} | {r.measured_text} | {r.samples:,} | {conf} | {budget} "
            f"| {ttd} / {ttr} | {_ICON.get(r.verdict.value, '')} {r.verdict.value} |"
        )
    if report.faults:
        lines += ["", "| fault | target | landed | evidence |", "| --- | --- | --- | --- |"]
        for f in report.faults:
            ev = "; ".join(evidence_text(k, v) for k, v in list(f.evidence.items())[:6])
            lines.append(
                f"| {f.kind.value} | {_cell(f.target)} | {'yes' if f.landed else '**NO**'} | {_cell(ev)[:300]} |"
            )
    if report.load:
        ld = report.load
        lines += [
            "",
            f"Load: {ld.requests:,} requests, {ld.failures:,} failed, {ld.achieved_rps:.1f} req/s over {ld.duration_s:.1f} s.",
        ]
    said = [e for e in report.events if e.kind not in (EventKind.STEP, EventKind.STEP_END)]
    if said:  # game days: what the operator decided and what observers noted, in order
        lines += ["", "| when | what | |", "| --- | --- | --- |"]
        lines += [f"| +{e.at - report.started_at:.1f} s | {e.kind.value} | {_cell(e.text)} |" for e in said]
    if report.reasons:
        lines += ["", *[f"- {_cell(r)}" for r in report.reasons]]
    lines += [f"- note: {_cell(n)}" for n in report.notes]
    return "\n".join(lines) + "\n"


def suite_header(suite: SuiteReport, gate: bool = False) -> str:
    """The suite's own verdict (and the gate's), above its runs: the same decision as suite.json and the exit code."""
    what = "gate" if gate else "suite"
    lines = [
        f"## {_ICON.get(suite.verdict.value, '')} {what} {_cell(suite.name)}: **{suite.verdict.value.upper()}** "
        f"(exit {int(suite.exit_code)}) — resilience score {suite.score:.1f} / 100",
    ]
    if suite.suite_reasons:
        lines += ["", *[f"- {_cell(r)}" for r in suite.suite_reasons]]
    return "\n".join(lines)


def write_markdown(reports: Sequence[RunReport], path: Path, header: str = "") -> None:
    """Write report.md; append it to `$GITHUB_STEP_SUMMARY` too when that is set (GitHub Actions)."""
    text = (header + "\n\n" if header else "") + "\n".join(to_markdown(r) for r in reports)
    path.write_text(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write(text + "\n")
