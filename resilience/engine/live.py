"""A snapshot of the run in progress, for live displays (the game-day dashboard, progress bars, status lines).

Read from another thread while chaoslib runs: everything here copies what it reads and computes nothing
the report does not compute the same way (SLOs over the recent slices with `resilience.slo`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from resilience.engine import session
from resilience.errors import ResilienceError
from resilience.model import FaultRecord, RunEvent, Slice, SLOResult, TimePoint
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


class LiveFeed:
    """Snapshots of the open run for one display, cheap enough to take several times a second.

    Merging HDR histograms costs ~0.5 ms per slice: a second whose four slices have all arrived is merged
    once and kept; the recent SLO status and the pods are refreshed at most once a second.
    """

    def __init__(self, current: Callable[[], session.RunSession | None], refresh_s: float = 1.0) -> None:
        """`current`: the run in progress, if any (the CLI passes `session.peek`: the displays read it)."""
        self.current = current
        self.refresh_s = refresh_s
        self._run: session.RunSession | None = None
        self._reset(None)

    def _reset(self, run: session.RunSession | None) -> None:
        self._run = run
        self._seconds: dict[int, TimePoint] = {}
        self._recent: tuple[SLOResult, ...] = ()
        self._recent_at = 0.0
        self._pods: tuple[Pod, ...] = ()
        self._pods_at = 0.0

    @property
    def last_run(self) -> session.RunSession | None:
        """The run seen last: still readable after it ended (its final events)."""
        return self._run

    def view(self, with_pods: bool = True) -> LiveView | None:
        run = self.current()
        if run is None:
            return None
        if run is not self._run:  # the next run of a suite: nothing carries over
            self._reset(run)
        return self._snapshot(run, with_pods)

    def _per_second(self, slices: list[Slice], slice_s: float, now: float) -> tuple[TimePoint, ...]:
        groups: dict[int, list[Slice]] = {}
        for s in slices:
            if s.start >= now - HISTORY_S - 2:
                groups.setdefault(int(s.start), []).append(s)
        full = max(1, round(1 / slice_s))
        points = []
        for second in sorted(groups):
            if second + 1 > now - 0.5:
                continue  # still filling
            point = self._seconds.get(second)
            if point is None:
                (point,) = seconds(groups[second])
                if len(groups[second]) >= full:  # every slice of it is in: it will not change
                    self._seconds[second] = point
            points.append(point)
        return tuple(points[-HISTORY_S:])

    def _snapshot(self, run: session.RunSession, with_pods: bool) -> LiveView:
        now = time.time()
        load, spec = run.measured.load, run.plan.load_spec
        slices = load.slices() if load is not None else []
        if run.plan.catalogue is not None and slices and now - self._recent_at >= self.refresh_s:
            specs = [run.plan.catalogue[n] for n in run.plan.run_slos if n in run.plan.catalogue]
            self._recent = tuple(
                evaluate_all(specs, window(slices, max(now - RECENT_S, run.measured.measure_from or 0)))
            )
            self._recent_at = now
        if with_pods and now - self._pods_at >= self.refresh_s:
            try:
                self._pods = tuple(run.platform().pods())
            except ResilienceError:
                self._pods = ()
            self._pods_at = now
        operator = run.plan.operator
        return LiveView(
            title=run.plan.title or (run.plan.experiment_path.name if run.plan.experiment_path else "experiment"),
            started_at=run.timeline.started_at,
            label=operator.label if operator else "",
            elapsed_s=now - run.timeline.started_at,
            phase=run.timeline.phase,
            step=run.timeline.step,
            step_elapsed_s=now - run.timeline.step_started if run.timeline.step_started else None,
            step_expected_s=run.timeline.step_expected_s,
            waiting=operator.waiting if operator else None,
            aborted=run.outcome.aborted_by or (operator.aborted if operator else None),
            requests=sum(s.total for s in slices),
            failures=sum(s.failed for s in slices),
            per_second=self._per_second(slices, spec.slice_s if spec else 0.25, now) if slices else (),
            recent=self._recent,
            faults=tuple(run.book.faults),
            pods=self._pods if with_pods else (),
            events=tuple(run.timeline.events),
            web_ui=f"http://127.0.0.1:{spec.web_ui_port}" if spec and spec.web_ui_port else None,
        )
