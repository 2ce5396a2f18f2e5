"""report.html: one self-contained file (inline CSS and SVG, no scripts, no network) a person can read.

Charts: latency p50/p99 per second with the fault windows shaded, error rate per second, and the error
budget spent over the run for each availability SLO. Then the SLO table (verdict, confidence, budget,
TTD/TTR), the fault evidence, the experiment as run, and the environment.
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

from resilience.model import EventKind, RunReport, SLIKind, TimePoint

W, H, PAD = 880, 220, 44
MARKED = (EventKind.CONFIRMED, EventKind.SKIPPED, EventKind.ABORT, EventKind.NOTE)
"""Operator decisions and observer notes are drawn on the charts as vertical lines."""
_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700", "error": "#8250df"}


def _e(value: object) -> str:
    return html.escape(str(value))


def _chart(
    title: str,
    points: Sequence[TimePoint],
    series: dict[str, list[float | None]],
    unit: str,
    report: RunReport,
    colours: list[str],
) -> str:
    """An SVG line chart over the run's seconds, fault windows shaded."""
    if not points:
        return f"<p>{_e(title)}: no data</p>"
    t0, t1 = points[0].start, points[-1].start + 1
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max(values, default=1.0) * 1.1 or 1.0

    def x(t: float) -> float:
        return PAD + (t - t0) / max(1e-9, t1 - t0) * (W - 2 * PAD)

    def y(v: float) -> float:
        return H - PAD + 10 - v / top * (H - PAD - 20)

    parts = [f'<svg role="img" aria-label="{_e(title)}" viewBox="0 0 {W} {H}" width="{W}" height="{H}">']
    parts.append(f'<text x="{PAD}" y="16" class="t">{_e(title)}</text>')
    for f in report.faults:
        start = max(t0, f.injected_at)
        end = min(t1, max(f.recovered_at or f.injected_at + 1, start + 0.5))
        parts.append(
            f'<rect class="fault" x="{x(start):.1f}" y="24" width="{max(2.0, x(end) - x(start)):.1f}" height="{H - PAD - 14}">'
            f"<title>{_e(f.kind.value)} on {_e(f.target)}</title></rect>"
        )
    for ev in report.events:
        if ev.kind in MARKED and t0 <= ev.at <= t1:
            parts.append(
                f'<line class="ev {ev.kind.value}" x1="{x(ev.at):.1f}" x2="{x(ev.at):.1f}" y1="24" y2="{H - PAD + 10}">'
                f"<title>{_e(ev.kind.value)}: {_e(ev.text)}</title></line>"
            )
    for i in range(5):  # horizontal grid with values
        v = top * i / 4
        parts.append(f'<line class="g" x1="{PAD}" x2="{W - PAD}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        parts.append(f'<text class="a" x="{PAD - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
    for s in range(0, int(t1 - t0) + 1, max(1, int((t1 - t0) / 10))):
        parts.append(f'<text class="a" x="{x(t0 + s):.1f}" y="{H - 8}" text-anchor="middle">{s}s</text>')
    for (name, vs), colour in zip(series.items(), colours, strict=False):
        pts = " ".join(f"{x(p.start + 0.5):.1f},{y(v):.1f}" for p, v in zip(points, vs, strict=False) if v is not None)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"><title>{_e(name)}</title></polyline>'
        )
    legend = (
        " ".join(f'<tspan fill="{c}">&#9632; {_e(n)}</tspan>' for n, c in zip(series, colours, strict=False))
        + ' <tspan class="fl">&#9632; fault</tspan>'
    )
    parts.append(f'<text class="a" x="{W - PAD}" y="16" text-anchor="end">{legend} ({_e(unit)})</text></svg>')
    return "".join(parts)


def _readiness(report: RunReport) -> str:
    """One row per pod: green while ready, red while not, fault windows shaded."""
    samples = report.readiness
    if len(samples) < 2:
        return ""
    pods = sorted({p for s in samples for p in (*s.ready, *s.not_ready)})
    t0, t1 = samples[0].at, samples[-1].at
    row, height = 18, 34 + 18 * len(pods)

    def x(t: float) -> float:
        return PAD + 40 + (t - t0) / max(1e-9, t1 - t0) * (W - 2 * PAD - 40)

    parts = [
        f'<svg role="img" aria-label="Replica readiness" viewBox="0 0 {W} {height}" width="{W}" height="{height}">'
    ]
    parts.append(f'<text x="{PAD}" y="16" class="t">Replica readiness</text>')
    for f in report.faults:
        start, end = max(t0, f.injected_at), min(t1, max(f.recovered_at or f.injected_at + 1, f.injected_at + 0.5))
        if end > start:
            parts.append(
                f'<rect class="fault" x="{x(start):.1f}" y="24" width="{x(end) - x(start):.1f}" height="{row * len(pods)}"/>'
            )
    for i, pod in enumerate(pods):
        y = 24 + i * row
        parts.append(f'<text class="a" x="{PAD + 34}" y="{y + 13}" text-anchor="end">{_e(pod)}</text>')
        for a, b in itertools.pairwise(samples):
            state = "up" if pod in a.ready else "down" if pod in a.not_ready else None
            if state:
                parts.append(
                    f'<rect class="{state}" x="{x(a.at):.1f}" y="{y + 3}" width="{max(1.0, x(b.at) - x(a.at)):.1f}" height="{row - 6}"/>'
                )
    parts.append("</svg>")
    return "".join(parts)


def _charts(report: RunReport) -> str:
    """Latency and error rate per second, then the error budget spent for each availability SLO with a budget."""
    pts = report.timeline
    charts = [
        _chart(
            "Latency per second",
            pts,
            {"p50": [p.p50_ms for p in pts], "p99": [p.p99_ms for p in pts]},
            "ms",
            report,
            ["#0969da", "#bf3989"],
        ),
        _chart(
            "Error rate per second",
            pts,
            {"failed": [100 * p.failed / p.total if p.total else None for p in pts]},
            "% of requests",
            report,
            ["#cf222e"],
        ),
    ]
    for slo in report.slos:
        if slo.sli is SLIKind.AVAILABILITY and slo.target is not None and slo.target < 1:
            spent, bad, total = [], 0, 0
            for p in pts:
                bad, total = bad + p.failed, total + p.total
                spent.append(100 * min(1.0, bad / ((1 - slo.target) * total)) if total else None)
            charts.append(
                _chart(
                    f"Error budget spent: {slo.name} ({slo.objective})", pts, {"spent": spent}, "%", report, ["#9a6700"]
                )
            )
    return "".join(charts)


def _slo_rows(report: RunReport) -> str:
    return "".join(
        f"<tr><td>{_e(r.name)}</td><td>{_e(r.objective)}</td><td>{_e(r.measured_text)}</td><td>{r.samples:,}</td>"
        f"<td>{'-' if r.confidence is None else f'{r.confidence:.1%}'}</td>"
        f"<td>{'-' if r.budget_consumed is None else f'{r.budget_consumed:.0%}'}</td>"
        f"<td>{r.detect_text} / "
        f"{'-' if r.time_to_recover_s is None else f'{r.time_to_recover_s:.2f} s'}</td>"
        f'<td class="v" style="color:{_COLOURS[r.verdict.value]}">{r.verdict.value.upper()}</td><td>{_e(r.detail)}</td></tr>'
        for r in report.slos
    )


def _fault_rows(report: RunReport) -> str:
    return "".join(
        f"<tr><td>{_e(f.kind.value)}</td><td>{_e(f.target)}</td><td>{'yes' if f.landed else '<b>NO</b>'}</td>"
        f"<td><pre>{_e(json.dumps(dict(f.evidence), indent=1, default=str))}</pre>{_e(f.error or '')}</td></tr>"
        for f in report.faults
    )


def _timeline(report: RunReport) -> str:
    """The run's events (step ends left out) with observer notes, or nothing when there were none."""
    events = "".join(
        f'<tr class="{e.kind.value}"><td>+{e.at - report.started_at:.1f} s</td><td>{_e(e.kind.value)}</td><td>{_e(e.text)}</td></tr>'
        for e in report.events
        if e.kind is not EventKind.STEP_END
    )
    return (
        f'<h2>Timeline and observer notes</h2><table id="timeline"><tr><th>when</th><th>what</th><th></th></tr>{events}</table>'
        if events
        else ""
    )


def render_html(report: RunReport) -> str:
    reasons = "".join(f"<li>{_e(r)}</li>" for r in report.reasons) + "".join(
        f"<li>note: {_e(n)}</li>" for n in report.notes
    )
    colour = _COLOURS[report.verdict.value]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(report.title)}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 960px; color: #1f2328; }}
h1 {{ font-size: 20px; }} .verdict {{ font-size: 22px; font-weight: 700; color: {colour}; }}
table {{ border-collapse: collapse; width: 100%; margin: 8px 0 20px; }}
td, th {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }} pre {{ margin: 0; font-size: 12px; white-space: pre-wrap; }}
svg {{ display: block; margin: 8px 0 16px; background: #fff; border: 1px solid #d0d7de; }}
.t {{ font-weight: 600; font-size: 13px; }} .a {{ font-size: 11px; fill: #57606a; }}
.g {{ stroke: #eaeef2; }} .fault {{ fill: #cf222e; fill-opacity: 0.12; }} .fl {{ fill: #cf222e; opacity: 0.5; }}
.v {{ font-weight: 700; }} details {{ margin: 8px 0; }}
.up {{ fill: #2da44e; }} .down {{ fill: #cf222e; }}
.ev {{ stroke: #57606a; stroke-dasharray: 3 3; }} .ev.abort {{ stroke: #cf222e; stroke-width: 2; }}
tr.note td {{ background: #fff8c5; }} tr.abort td {{ background: #ffebe9; font-weight: 600; }}
</style></head><body>
<h1>{_e(report.title)}</h1>
<p class="verdict">{report.verdict.value.upper()} (exit {int(report.exit_code)}, {_e(report.status.value)})</p>
<ul>{reasons}</ul>
{_charts(report)}
{_readiness(report)}
<h2>SLOs</h2>
<table><tr><th>SLO</th><th>objective</th><th>measured</th><th>samples</th><th>confidence</th><th>budget spent</th><th>TTD / TTR</th><th>verdict</th><th>detail</th></tr>{_slo_rows(report)}</table>
<h2>Faults and their evidence</h2>
<table><tr><th>fault</th><th>target</th><th>landed</th><th>evidence</th></tr>{_fault_rows(report)}</table>
{_timeline(report)}
<details><summary>Experiment as run ({_e(report.experiment_path)})</summary><pre>{_e(json.dumps(report.experiment, indent=2, default=str))}</pre></details>
<details><summary>Environment</summary><pre>{_e(json.dumps(report.environment, indent=2, default=str))}</pre></details>
</body></html>
"""


def write_html(report: RunReport, path: Path) -> None:
    path.write_text(render_html(report))
