"""The state of the run in progress, shared by the load control, the SLO probes and the fault actions.

chaoslib calls our controls, probes and actions as plain functions in this process; they meet here, through
`current()` (the one accessor, used at the Chaos Toolkit boundary: `resilience.ctk`). The state is split by
concern: the plan (inputs), the measurements, the timeline (phase, step, events), the fault book and the
outcome. Under `resilience run` the engine opens the session (`begin`); under plain `chaos run` the load
control opens it explicitly (`open_for_chaos_run`); nothing else creates one.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from resilience.errors import NoRunError, ResilienceError
from resilience.load import LoadGenerator, LoadSpec
from resilience.model import (
    EventKind,
    FaultRecord,
    Phase,
    ReadinessSample,
    RunEvent,
    SLOResult,
    SLOSpec,
    StopCondition,
)
from resilience.targets import Target, TargetSpec, connect

log = logging.getLogger(__name__)


class Gate(Protocol):
    """Who decides, before each fault step, whether it runs (the game-day operator, engine/operator.py)."""

    label: str
    """Where in a suite the run is (`2/4 pod-hang.yaml`), for displays."""
    waiting: str | None
    """The step waiting for a decision, if any."""
    aborted: str | None
    """Why the game day was aborted, if it was."""

    def gate(self, step: str) -> bool:
        """Block until the step is decided: True runs it, False skips it."""
        ...


@dataclass
class RunPlan:
    """What the run was asked to do: set when it opens and by the load control, before any fault."""

    experiment_path: Path | None
    work_dir: Path
    """Where the generator's log and other run artefacts go (the report dir under `resilience run`)."""
    catalogue: dict[str, SLOSpec] | None = None
    title: str = ""
    load_overrides: dict[str, Any] = field(default_factory=dict)
    """LoadSpec fields the command line sets over the experiment's (e.g. the game day's Locust web UI port)."""
    run_slos: list[str] = field(default_factory=list)
    """SLOs judged over the whole run (the load control's `slos` argument)."""
    load_spec: LoadSpec | None = None
    stop_conditions: list[StopCondition] = field(default_factory=list)
    operator: Gate | None = None
    """Game days: the person who confirms each fault step and may abort (None: nobody is asked)."""
    target: TargetSpec | None = None
    """The platform faults land on (None: the local reference platform)."""
    allowed_clusters: frozenset[str] = frozenset()
    """`context/namespace` entries the person running it allowed (a cluster target must be one of them)."""


@dataclass
class Measurements:
    """What the run measured: the load's slices (through its generator), probe results, pod readiness."""

    load: LoadGenerator | None = None
    measure_from: float | None = None
    """Wall time the run's measurement window opens (after the load's warm-up)."""
    measure_to: float | None = None
    probe_results: list[tuple[str, SLOResult]] = field(default_factory=list)
    """(probe phase label, result) for every SLO probe evaluation, in order."""
    readiness: list[ReadinessSample] = field(default_factory=list)
    """Pod readiness sampled while the load runs (for the report's timeline)."""


@dataclass
class Timeline:
    """Where the run is and what happened when: chaoslib's phase, the step running now, the events."""

    started_at: float = field(default_factory=time.time)
    phase: Phase = Phase.SETUP
    phase_started: float | None = None
    """When the current phase (baseline, method, after) began: SLO probe windows start no earlier."""
    step: str | None = None
    """The activity running now, if any."""
    step_started: float | None = None
    step_expected_s: float | None = None
    """How long the current step should take (its duration_s and pauses), when it says."""
    in_step: bool = False
    """A method step is running (set and cleared in the main thread): only then may it be interrupted."""
    step_interrupted: bool = False
    """The running step was interrupted once already."""
    events: list[RunEvent] = field(default_factory=list)
    """The run's timeline: steps, operator decisions, observer notes."""

    def record(self, kind: EventKind, text: str, at: float | None = None) -> RunEvent:
        event = RunEvent(time.time() if at is None else at, kind, text)
        self.events.append(event)  # list.append is atomic: the UI thread and chaoslib's may both record
        return event


@dataclass
class FaultBook:
    """The faults of the run: what was injected (with evidence), skipped, and what its rollbacks left."""

    faults: list[FaultRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Method steps the operator chose not to run (their faults were not tested)."""
    rolled_back_by_engine: list[str] = field(default_factory=list)
    """Faults the experiment's own rollbacks left in the ledger, undone by the engine after the run."""
    rollback_failures: list[str] = field(default_factory=list)
    """Faults that could not be rolled back: the run fails (exit 3) and `resilience recover` is the way out."""


@dataclass
class Outcome:
    """What ended the run early or broke it."""

    stopped_by: str | None = None
    """Set when a stop condition aborted the method: why."""
    aborted_by: str | None = None
    """Set when the operator aborted the run: who, when, during what."""
    errors: list[str] = field(default_factory=list)
    """What broke the run itself (a control that raised, chaoslib crashing): never a pass (exit 3)."""


@dataclass
class RunSession:
    """One run's state, split by concern; chaoslib's controls, probes and actions reach it through `current()`."""

    plan: RunPlan
    measured: Measurements = field(default_factory=Measurements)
    timeline: Timeline = field(default_factory=Timeline)
    book: FaultBook = field(default_factory=FaultBook)
    outcome: Outcome = field(default_factory=Outcome)
    watcher: threading.Event | None = None
    """Set to end the stop-condition watcher."""
    sampler: threading.Event | None = None
    """Set to end the readiness sampler."""
    _platform: Target | None = None

    def platform(self, state_dir: Path | None = None) -> Target:
        if self._platform is None or (state_dir and self._platform.state_dir != state_dir):
            self._platform = connect(state_dir, self.plan.target, set(self.plan.allowed_clusters))
        return self._platform

    def sample_readiness(self, stop: threading.Event, period_s: float = 0.5) -> None:
        """Record which pods are ready every `period_s` until `stop` is set (run in a thread)."""
        while not stop.wait(period_s):
            try:
                pods = self.platform().pods()
            except ResilienceError:
                continue  # the platform may be restarting pods or going down: skip this sample
            ready = tuple(p.name for p in pods if p.ready and p.pid)
            self.measured.readiness.append(
                ReadinessSample(time.time(), ready, tuple(p.name for p in pods if p.name not in ready))
            )

    def stop_load(self) -> None:
        load = self.measured.load
        if load is not None and load.stopped_at is None:
            load.stop()
            self.measured.measure_to = load.stopped_at


_lock = threading.Lock()
_current: RunSession | None = None


def begin(session: RunSession) -> RunSession:
    global _current
    with _lock:
        _current = session
    return session


def peek() -> RunSession | None:
    """The open session if there is one (for displays: never creates one)."""
    with _lock:
        return _current


def current() -> RunSession:
    """The open session; NoRunError when none is (an action or probe called outside a run)."""
    with _lock:
        if _current is None:
            raise NoRunError(
                "no run is open: resilience's actions and probes need the `load` control "
                "(module resilience.ctk.controls) in the experiment's `controls`, or `resilience run`"
            )
        return _current


def open_for_chaos_run() -> RunSession:
    """The open session, or a new one in `./.resilience/runs/` when plain `chaos run` calls the load control
    (without `resilience run` around it): the one place a session opens outside the engine."""
    global _current
    with _lock:
        if _current is None:
            work = Path(".resilience") / "runs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            _current = RunSession(RunPlan(experiment_path=None, work_dir=work.resolve()))
        return _current


def end() -> RunSession | None:
    """Close the session: whatever happened, the load generator does not outlive the run."""
    global _current
    with _lock:
        session, _current = _current, None
    if session is not None:
        for event in (session.watcher, session.sampler):
            if event is not None:
                event.set()
        session.stop_load()
    return session
