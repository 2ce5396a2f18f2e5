"""The one object every report format renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resilience.model.enums import EventKind, ExitCode, RunStatus, Verdict
from resilience.model.faults import FaultRecord
from resilience.model.measure import LoadSummary
from resilience.model.slo import SLOResult


def verdict_of(code: ExitCode) -> Verdict:
    """The one verdict an exit code stands for, in every format (0 pass, 1 fail, anything else error)."""
    return {ExitCode.OK: Verdict.PASS, ExitCode.SLO_FAILED: Verdict.FAIL}.get(code, Verdict.ERROR)


@dataclass(frozen=True, slots=True)
class HypothesisCheck:
    """One evaluation of the steady-state hypothesis (phase: before, during, after)."""

    phase: str
    met: bool
    probes: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class TimePoint:
    """One second of the run, for charts: requests by intended time, and their latency percentiles."""

    start: float
    total: int
    failed: int
    p50_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True, slots=True)
class ReadinessSample:
    """Which pods were ready at one moment of the run (sampled from the platform every half second)."""

    at: float
    ready: tuple[str, ...]
    not_ready: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One moment of the run's timeline: a step began or ended, the operator decided, an observer wrote a note."""

    at: float
    kind: EventKind
    text: str


@dataclass(frozen=True, slots=True)
class RunReport:
    title: str
    experiment_path: str
    started_at: float
    ended_at: float
    status: RunStatus
    verdict: Verdict
    exit_code: ExitCode
    reasons: tuple[str, ...]
    """Why the verdict is what it is, one line each (empty on a clean pass)."""
    slos: tuple[SLOResult, ...]
    faults: tuple[FaultRecord, ...]
    load: LoadSummary | None
    hypothesis: tuple[HypothesisCheck, ...] = ()
    environment: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """Things a reader should know that did not change the verdict (e.g. faults the engine rolled back)."""
    timeline: tuple[TimePoint, ...] = ()
    readiness: tuple[ReadinessSample, ...] = ()
    experiment: dict[str, Any] = field(default_factory=dict)
    """The experiment as run (Chaos Toolkit dict), for the HTML report."""
    events: tuple[RunEvent, ...] = ()
    """Steps, operator decisions and observer notes, in time order (game days fill in the last two)."""


@dataclass(frozen=True, slots=True)
class SuiteRun:
    path: str
    """The experiment file as the suite names it."""
    weight: float
    report: RunReport


@dataclass(frozen=True, slots=True)
class SuiteReport:
    name: str
    runs: tuple[SuiteRun, ...]
    score: float
    """Resilience score, 0-100 (see `resilience.engine.suite`)."""
    exit_code: ExitCode
    reasons: tuple[str, ...]
    """Every reason: each run's (prefixed with its file) and the suite's own."""
    suite_reasons: tuple[str, ...] = ()
    """Reasons that belong to no single run: regressions against the gate's baseline, experiments not run."""

    @property
    def verdict(self) -> Verdict:
        return verdict_of(self.exit_code)
