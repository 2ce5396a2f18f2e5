"""The terminal summary: SLO verdicts, fault evidence and load, as rich tables."""

from __future__ import annotations

import time

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from resilience.model import EventKind, FaultKind, RunReport, SuiteReport, Verdict

_STYLE = {
    Verdict.PASS: "bold green",
    Verdict.FAIL: "bold red",
    Verdict.INCONCLUSIVE: "yellow",
    Verdict.ERROR: "bold magenta",
}


def _short(value: object, width: int = 90) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _clock(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int((ts % 1) * 1000):03d}" if ts else "-"


def evidence_text(key: str, value: object) -> str:
    """One evidence item for people: a wall-clock time (`*_at`, seconds since the epoch) as a clock time."""
    if key.endswith("_at") and isinstance(value, int | float) and not isinstance(value, bool) and value > 1e9:
        return f"{key}: {_clock(float(value))}"
    return f"{key}: {_short(value)}"


def render_console(report: RunReport) -> RenderableType:
    slos = Table(title=f"SLO verdicts — {report.title}", title_justify="left")
    for col in ("SLO", "objective", "measured", "samples", "confidence", "budget", "TTD / TTR", "verdict"):
        slos.add_column(col, justify="left" if col in ("SLO", "objective", "verdict") else "right")
    for r in report.slos:
        detect = r.detect_text
        recover = "-" if r.time_to_recover_s is None else f"{r.time_to_recover_s:.2f} s"
        slos.add_row(
            r.name,
            r.objective,
            r.measured_text,
            f"{r.samples:,}",
            "-" if r.confidence is None else f"{r.confidence:.1%}",
            "-" if r.budget_consumed is None else f"{r.budget_consumed:.0%}",
            f"{detect} / {recover}",
            Text(r.verdict.value.upper(), style=_STYLE[r.verdict]),
        )
    faults = Table(title="Faults", title_justify="left")
    for col in ("fault", "target", "landed", "evidence"):
        faults.add_column(col, overflow="fold")
    for f in report.faults:
        ev = f.evidence
        died = ev.get("exit_seen_by_parent") or {}
        if f.kind is not FaultKind.POD_KILL:
            lines = [f"injected {_clock(f.injected_at)}"] + [evidence_text(k, v) for k, v in list(ev.items())[:8]]
        else:
            lines = [f"injected {_clock(f.injected_at)}: pid {ev.get('killed_pid')} sent {ev.get('signal_sent')}"]
        if died:
            lines.append(
                f"parent saw pid {died.get('pid')} die of {died.get('signal') or died.get('returncode')} "
                f"after {ev.get('detected_after_s')} s"
            )
        if f.recovered_at and f.kind is FaultKind.POD_KILL:
            lines.append(
                f"replacement pid {ev.get('replacement_pid')} ready {_clock(f.recovered_at)} "
                f"(+{ev.get('time_to_ready_s')} s)"
            )
        if f.error:
            lines.append(f"error: {f.error}")
        if f.unmet:
            lines.append(f"not as expected: {f.unmet}")
        landed = Text("yes", "green") if f.landed else Text("NO", "bold red")
        faults.add_row(f.kind.value, f.target, landed, "\n".join(lines))
    parts: list[RenderableType] = [slos] if report.slos else []
    if report.faults:
        parts.append(faults)
    if report.load:
        ld = report.load
        lag = f"{ld.schedule_lag_p99_ms:.2f} ms" if ld.schedule_lag_p99_ms is not None else "-"
        parts.append(
            Text(
                f"load: {ld.requests:,} requests, {ld.failures:,} failed, {ld.achieved_rps:.1f} req/s "
                f"achieved of {ld.target_rps:g} over {ld.duration_s:.1f} s; schedule lag p99 {lag}"
            )
        )
    said = [e for e in report.events if e.kind not in (EventKind.STEP, EventKind.STEP_END)]
    if said:
        timeline = Table(title="Operator decisions and observer notes", title_justify="left")
        for col in ("when", "what", ""):
            timeline.add_column(col, overflow="fold")
        for e in said:
            timeline.add_row(f"+{e.at - report.started_at:.1f} s", e.kind.value, e.text)
        parts.append(timeline)
    verdict_line = Text(
        f"verdict: {report.verdict.value.upper()} (exit {int(report.exit_code)}, {report.status.value})",
        style=_STYLE[report.verdict],
    )
    parts.append(verdict_line)
    parts.extend(Text(f"  - {reason}") for reason in report.reasons)
    parts.extend(Text(f"  note: {note}", style="yellow") for note in report.notes)
    return Group(*parts)


def render_suite_console(suite: SuiteReport, gate: bool = False) -> RenderableType:
    """A suite's (or the gate's) table, then its verdict line and every reason: the same decision as suite.json."""
    table = Table(title=f"suite {suite.name} — resilience score {suite.score:.1f} / 100", title_justify="left")
    for col in ("experiment", "weight", "SLOs passed", "verdict", "exit"):
        table.add_column(col)
    for run in suite.runs:
        passed = sum(s.verdict is Verdict.PASS for s in run.report.slos)
        table.add_row(
            run.path,
            f"{run.weight:g}",
            f"{passed}/{len(run.report.slos)}",
            Text(run.report.verdict.value.upper(), style=_STYLE[run.report.verdict]),
            str(int(run.report.exit_code)),
        )
    what = "gate" if gate else "suite"
    parts: list[RenderableType] = [
        table,
        Text(f"{what}: {suite.verdict.value.upper()} (exit {int(suite.exit_code)})", style=_STYLE[suite.verdict]),
    ]
    parts.extend(Text(f"  - {reason}") for reason in suite.reasons)
    return Group(*parts)
