"""The game-day dashboard's rendering: what one screen shows for a `LiveView` (rich renderables, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from resilience.engine.live import RECENT_S, LiveView
from resilience.model import EventKind, Verdict
from resilience.model.faults import PENDING

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None], width: int = 40) -> str:
    """Unicode block sparkline of the last `width` values, scaled from 0 to their maximum (gaps as spaces)."""
    vals = list(values)[-width:]
    top = max((v for v in vals if v is not None), default=0.0)
    if top <= 0:
        return "".join(" " if v is None else SPARK[0] for v in vals)
    return "".join(" " if v is None else SPARK[min(len(SPARK) - 1, int(v / top * len(SPARK)))] for v in vals)


def since(started_at: float, at: float | None) -> str:
    return "-" if at is None else f"+{at - started_at:.1f}s"


def step_text(view: LiveView) -> str:
    if view.step is None:
        return view.phase
    took = f"{view.step_elapsed_s:.0f}" if view.step_elapsed_s is not None else "?"
    of = f"/{view.step_expected_s:.0f}" if view.step_expected_s else ""
    return f"{view.phase}: {view.step} ({took}{of} s)"


def _slo_cell(r: Any) -> Text:
    if not r.samples:
        return Text("no data", "dim")
    ok = r.verdict is not Verdict.FAIL
    return Text("OK" if ok else "BREACH", "bold green" if ok else "bold red")


def render_dashboard(
    view: LiveView | None, operator_label: str, typing: str | None, logs: Sequence[str], flash: str
) -> RenderableType:
    """The whole game-day screen for `view` (None: the run has not started yet)."""
    keys = Text.assemble(
        ("[y]", "bold"),
        " confirm step  ",
        ("[s]", "bold"),
        " skip step  ",
        ("[n]", "bold"),
        " note  ",
        ("[a]", "bold red"),
        " ABORT (roll back now)  ",
        ("Ctrl-C", "bold"),
        " interrupt",
    )
    footer: RenderableType = keys if typing is None else Text(f"note> {typing}█  (Enter saves, Esc drops)")
    if view is None:
        return Group(Text(f"game day {operator_label}: waiting for the run to start...", "bold"), footer)
    head = Text.assemble(
        ("GAME DAY ", "bold reverse"),
        f" {view.title}  ",
        (view.label + "  " if view.label else "", "cyan"),
        f"+{view.elapsed_s:.0f}s  ",
        (step_text(view), "bold"),
    )
    parts: list[RenderableType] = [head]
    if view.web_ui:
        parts.append(Text(f"Locust web UI: {view.web_ui}", "cyan"))
    if view.aborted:
        parts.append(Panel(Text(f"ABORTED: {view.aborted}. Rolling back.", "bold red"), border_style="red"))
    elif view.waiting:
        parts.append(
            Panel(
                Text(f"Confirm fault step {view.waiting!r}:  [y] run it   [s] skip it   [a] abort", "bold"),
                title="operator",
                border_style="yellow",
            )
        )
    parts.append(dashboard_grid(view))
    parts.append(Text("\n".join(logs), "dim"))
    if flash:
        parts.append(Text(flash, "yellow"))
    parts.append(footer)
    return Group(*parts)


def dashboard_grid(view: LiveView) -> Table:
    """The dashboard's body: SLOs, sparklines, replicas, faults and the timeline."""
    slos = Table(title=f"SLOs, last {RECENT_S:.0f} s", title_justify="left", expand=True)
    for col in ("SLO", "objective", "measured", "status"):
        slos.add_column(col)
    for r in view.recent:
        slos.add_row(r.name, r.objective, r.measured_text if r.samples else "-", _slo_cell(r))
    pts = view.per_second
    spark = Table(title="last 60 s", title_justify="left", expand=True, show_header=False)
    spark.add_column("", no_wrap=True, min_width=8)
    spark.add_column("", no_wrap=True, overflow="crop")
    spark.add_column("", justify="right", no_wrap=True, min_width=6)
    p99 = view.p99_ms
    spark.add_row("req/s", sparkline([p.total for p in pts]), f"{view.rps or 0:.0f}")
    spark.add_row("p99 ms", Text(sparkline([p.p99_ms for p in pts]), "magenta"), "-" if p99 is None else f"{p99:.1f}")
    spark.add_row("failed/s", Text(sparkline([p.failed for p in pts]), "red"), f"{pts[-1].failed if pts else 0}")
    spark.add_row("total", f"{view.requests:,} requests, {view.failures:,} failed", "")
    pods = Table(title="replicas", title_justify="left", expand=True)
    for col in ("pod", "ready", "restarts", "pid"):
        pods.add_column(col)
    for p in view.pods:
        pods.add_row(
            p.name,
            Text("ready", "green") if p.ready else Text("NOT READY", "bold red"),
            str(p.restarts),
            str(p.pid or "-"),
        )
    faults = Table(title="faults", title_justify="left", expand=True)
    for col in ("fault", "target", "injected", "recovered", "landed"):
        faults.add_column(col, overflow="fold")
    for f in view.faults:
        faults.add_row(
            f.kind.value,
            f.target,
            since(view.started_at, f.injected_at),
            since(view.started_at, f.recovered_at) if f.recovered_at else Text("active", "bold red"),
            Text("yes", "green")
            if f.landed
            else Text("pending", "yellow")
            if f.error == PENDING
            else Text("NO", "red"),
        )
    events = Table(title="timeline", title_justify="left", expand=True, show_header=False)
    events.add_column("", no_wrap=True)
    events.add_column("", overflow="fold")
    for e in [e for e in view.events if e.kind is not EventKind.STEP_END][-8:]:
        style = {EventKind.NOTE: "yellow", EventKind.ABORT: "bold red", EventKind.SKIPPED: "red"}.get(e.kind, "")
        events.add_row(since(view.started_at, e.at), Text(f"{e.kind.value}: {e.text}", style))
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(Group(slos, spark), pods)
    grid.add_row(faults, events)
    return grid
