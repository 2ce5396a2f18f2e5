"""A snapshot of the run in progress, for live displays (the game-day dashboard, progress bars, status lines).

Read from another thread while chaoslib runs: everything here copies what it reads and computes nothing
the report does not compute the same way (SLOs over the recent slices with `resilience.slo`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from resilience.engine import session
from resilience.errors import ResilienceError
from resilience.model import FaultRecord, RunEvent, SLOResult, TimePoint
from resilience.slo import evaluate_all, seconds, window
from resilience.targets import Pod

RECENT_S = 10.0
"""SLO status on the dashboard is judged over this many recent seconds (like a short alert window)."""
HISTORY_S = 60
"""Seconds of per-second history kept for sparklines."""


@dataclass(frozen=True, slots=True)
class LiveView:
    title: str
    started_at: float
    label: str
    """Where in a suite (`2/4 pod-hang.yaml`), or empty."""
    elapsed_s: float
    phase: str
    step: str | None
    step_elapsed_s: float | None
    step_expected_s: float | None
    waiting: str | None
    """The step waiting for the operator's decision."""
    aborted: str | None
    load_started_at: float | None
    warmup_s: float
    requests: int
    failures: int
    per_second: tuple[TimePoint, ...]
    """The last HISTORY_S complete seconds of load, oldest first."""
    recent: tuple[SLOResult, ...]
    """Each run SLO over the last RECENT_S seconds (no confidence judged: a live indication, not a verdict)."""
    faults: tuple[FaultRecord, ...]
    pods: tuple[Pod, ...]
    events: tuple[RunEvent, ...]
    web_ui: str | None

    @property
    def rps(self) -> float | None:
        return float(self.per_second[-1].total) if self.per_second else None

    @property
    def p99_ms(self) -> float | None:
        return self.per_second[-1].p99_ms if self.per_second else None


def snapshot(run: session.RunSession, with_pods: bool = True) -> LiveView:
    now = time.time()
    load, spec = run.load, run.load_spec
    slices = load.slices() if load is not None else []
    per_second = seconds([s for s in slices if s.start >= now - HISTORY_S - 2])
    complete = tuple(p for p in per_second if p.start + 1 <= now - 0.5)[-HISTORY_S:]  # the last one may still fill
    recent: tuple[SLOResult, ...] = ()
    if run.catalogue is not None and slices:
        specs = [run.catalogue[n] for n in run.run_slos if n in run.catalogue]
        recent = tuple(evaluate_all(specs, window(slices, max(now - RECENT_S, run.measure_from or 0))))
    pods: tuple[Pod, ...] = ()
    if with_pods:
        try:
            pods = tuple(run.platform().pods())
        except ResilienceError:
            pods = ()
    operator = run.operator
    return LiveView(
        title=run.title or (run.experiment_path.name if run.experiment_path else "experiment"),
        started_at=run.started_at,
        label=operator.label if operator else "",
        elapsed_s=now - run.started_at,
        phase=run.phase,
        step=run.step,
        step_elapsed_s=now - run.step_started if run.step_started else None,
        step_expected_s=run.step_expected_s,
        waiting=operator.waiting if operator else None,
        aborted=run.aborted_by or (operator.aborted if operator else None),
        load_started_at=run.measure_from,
        warmup_s=spec.warmup_s if spec else 0.0,
        requests=sum(s.total for s in slices),
        failures=sum(s.failed for s in slices),
        per_second=complete,
        recent=recent,
        faults=tuple(run.faults),
        pods=pods,
        events=tuple(run.events),
        web_ui=f"http://127.0.0.1:{spec.web_ui_port}" if spec and spec.web_ui_port else None,
    )


def current_view(with_pods: bool = True) -> LiveView | None:
    run = session.peek()
    return snapshot(run, with_pods) if run is not None else None
