"""The state of the run in progress, shared by the load control, the SLO probes and the fault actions.

chaoslib calls our controls, probes and actions as plain functions in this process; they meet here.
Under `resilience run` the engine opens the session; under plain `chaos run` the load control does.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resilience.errors import ResilienceError
from resilience.load import LoadGenerator, LoadSpec
from resilience.model import EventKind, FaultRecord, ReadinessSample, RunEvent, SLOResult, SLOSpec, StopCondition
from resilience.targets import Target, connect

if TYPE_CHECKING:
    from resilience.engine.operator import Operator

log = logging.getLogger(__name__)


@dataclass
class RunSession:
    experiment_path: Path | None
    work_dir: Path
    """Where the generator's log and other run artefacts go (the report dir under `resilience run`)."""
    catalogue: dict[str, SLOSpec] | None = None
    title: str = ""
    run_slos: list[str] = field(default_factory=list)
    """SLOs judged over the whole run (the load control's `slos` argument)."""
    load: LoadGenerator | None = None
    load_spec: LoadSpec | None = None
    measure_from: float | None = None
    """Wall time the run's measurement window opens (after the load's warm-up)."""
    measure_to: float | None = None
    phase_started: float | None = None
    """When the current phase (baseline, method, after) began: SLO probe windows start no earlier."""
    faults: list[FaultRecord] = field(default_factory=list)
    probe_results: list[tuple[str, SLOResult]] = field(default_factory=list)
    """(probe phase label, result) for every SLO probe evaluation, in order."""
    started_at: float = field(default_factory=time.time)
    rolled_back_by_engine: list[str] = field(default_factory=list)
    """Faults the experiment's own rollbacks left in the ledger, undone by the engine after the run."""
    rollback_failures: list[str] = field(default_factory=list)
    """Faults that could not be rolled back: the run fails (exit 3) and `resilience recover` is the way out."""
    stop_conditions: list[StopCondition] = field(default_factory=list)
    stopped_by: str | None = None
    """Set when a stop condition aborted the method: why."""
    watcher: threading.Event | None = None
    """Set to end the stop-condition watcher."""
    sampler: threading.Event | None = None
    """Set to end the readiness sampler."""
    readiness: list[ReadinessSample] = field(default_factory=list)
    """Pod readiness sampled while the load runs (for the report's timeline)."""
    load_overrides: dict[str, Any] = field(default_factory=dict)
    """LoadSpec fields the command line sets over the experiment's (e.g. the game day's Locust web UI port)."""
    operator: Operator | None = None
    """Game days: the person who confirms each fault step and may abort (None: nobody is asked)."""
    events: list[RunEvent] = field(default_factory=list)
    """The run's timeline: steps, operator decisions, observer notes."""
    phase: str = "setup"
    """setup, steady-state, method, after-method, rollbacks, done: where chaoslib is (from its run events)."""
    step: str | None = None
    """The activity running now, if any."""
    step_started: float | None = None
    step_expected_s: float | None = None
    """How long the current step should take (its duration_s and pauses), when it says."""
    in_step: bool = False
    """A method step is running (set and cleared in the main thread): only then may it be interrupted."""
    step_interrupted: bool = False
    """The running step was interrupted once already."""
    aborted_by: str | None = None
    """Set when the operator aborted the run: who, when, during what."""
    skipped: list[str] = field(default_factory=list)
    """Method steps the operator chose not to run (their faults were not tested)."""
    errors: list[str] = field(default_factory=list)
    """What broke the run itself (a control that raised, chaoslib crashing): never a pass (exit 3)."""
    _platform: Target | None = None

    def record(self, kind: EventKind, text: str, at: float | None = None) -> RunEvent:
        event = RunEvent(time.time() if at is None else at, kind, text)
        self.events.append(event)  # list.append is atomic: the UI thread and chaoslib's may both record
        return event

    def platform(self, state_dir: Path | None = None) -> Target:
        if self._platform is None or (state_dir and self._platform.state_dir != state_dir):
            self._platform = connect(state_dir)
        return self._platform

    def sample_readiness(self, stop: threading.Event, period_s: float = 0.5) -> None:
        """Record which pods are ready every `period_s` until `stop` is set (run in a thread)."""
        while not stop.wait(period_s):
            try:
                pods = self.platform().pods()
            except ResilienceError:
                continue  # the platform may be restarting pods or going down: skip this sample
            ready = tuple(p.name for p in pods if p.ready and p.pid)
            self.readiness.append(
                ReadinessSample(time.time(), ready, tuple(p.name for p in pods if p.name not in ready))
            )

    def stop_load(self) -> None:
        if self.load is not None and self.load.stopped_at is None:
            self.load.stop()
            self.measure_to = self.load.stopped_at


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
    """The open session, or a new one in `./.resilience/runs/` when chaos runs us without the engine."""
    global _current
    with _lock:
        if _current is None:
            work = Path(".resilience") / "runs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            _current = RunSession(experiment_path=None, work_dir=work.resolve())
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
