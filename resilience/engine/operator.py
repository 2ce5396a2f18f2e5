"""The game-day operator: confirms each fault step, may skip one, may abort the run at any moment, writes notes.

The terminal UI (in `resilience.cli`) calls `confirm`, `skip`, `abort` and `note` from its own threads;
chaoslib's thread meets the operator in `gate`, called by the timeline control before every method action.
An abort while a fault runs goes the way a stop condition does: chaoslib's SIGUSR1 handler interrupts the
activity, the fault undoes itself, the rollbacks run, and the engine undoes whatever they left.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from chaoslib.exceptions import InterruptExecution

from resilience.engine.session import RunSession
from resilience.errors import ResilienceError
from resilience.faults import Ledger
from resilience.model import EventKind, Phase

log = logging.getLogger("chaostoolkit.resilience")


def _leave_now() -> None:
    """chaoslib's `exit_gracefully`, aimed at the main thread: its handler raises in the running activity.

    A signal sent to the process may be taken by any thread; when another thread takes it, the main
    thread's sleep (a fault's duration, a pause) is not interrupted and the handler waits until it ends.
    """
    if not callable(signal.getsignal(signal.SIGUSR1)):
        log.warning("not interrupting: chaoslib is not running an experiment (its SIGUSR1 handler is not installed)")
        return  # the default action of SIGUSR1 would kill the toolkit, rollbacks and all
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)


def _faults_active(run: RunSession) -> bool:
    try:
        return bool(Ledger(run.platform().state_dir / "ledger").active(run_pid=os.getpid()))
    except ResilienceError:
        return True


def guard_interrupts(run: RunSession) -> None:
    """Wrap chaoslib's SIGUSR1 handler (call from the main thread, inside a run) so that it only interrupts
    a method step of `run`: never the rollbacks or the bookkeeping around them, and never a fault that is
    already undoing itself after a first interrupt. The check runs in the main thread, where the signal lands.
    """
    current = signal.getsignal(signal.SIGUSR1)
    if not callable(current):
        return
    if isinstance(current, _Guard):
        current.run = run  # the next run of a suite, under the same chaoslib handler
    else:
        signal.signal(signal.SIGUSR1, _Guard(current, run))
    signal.signal(signal.SIGTERM, _Terminate(run))


class _Guard:
    """chaoslib's SIGUSR1 handler, let through only while a method step of the run is running."""

    def __init__(self, chaoslib_handler: Callable[[int, Any], Any], run: RunSession) -> None:
        self.chaoslib_handler, self.run = chaoslib_handler, run

    def __call__(self, signum: int, frame: Any) -> None:
        run = self.run
        if not run.timeline.in_step:
            log.warning("interrupt ignored: no method step is running (rollbacks are never interrupted)")
            return
        if run.timeline.step_interrupted and _faults_active(run):
            return  # the first interrupt is being handled: the fault is undoing itself
        run.timeline.step_interrupted = True
        self.chaoslib_handler(signum, frame)  # raises SystemExit(20): chaoslib plays the rollbacks


class _Terminate:
    """SIGTERM (a CI job cancelled, `kill`) takes Ctrl-C's path: chaoslib's own handler raises
    InterruptExecution, which its event registry swallows where we cut an interrupted step's pause, so a
    SIGTERM waited out `pauses.after`. During the rollbacks it is held back: they finish, then the run ends."""

    def __init__(self, run: RunSession) -> None:
        self.run = run

    def __call__(self, signum: int, frame: Any) -> None:
        _terminate(self.run)


def _terminate(run: RunSession) -> None:
    if run.timeline.phase is Phase.ROLLBACKS:
        log.warning("SIGTERM: finishing the rollbacks first; the run ends right after them")
        return
    raise KeyboardInterrupt


def interrupt_method(run: RunSession, cut_pause_within_s: float = 60.0) -> None:
    """Interrupt the running step the way chaoslib's SIGUSR1 handler does, and do not wait out its pause.

    chaoslib (1.44) still sleeps an interrupted activity's `pauses.after` before it plays the rollbacks
    (its `interrupted` flag is never set). Once the interrupted fault has undone itself (nothing of this run
    left in the fault ledger) and the same step is still on, a second SIGUSR1 cuts that sleep short. A
    signal that arrives too late (the step ended) is ignored by `guard_interrupts`' handler.
    """
    step = run.timeline.step
    _leave_now()

    def cut_pause() -> None:
        deadline = time.monotonic() + cut_pause_within_s
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if run.timeline.step != step or not run.timeline.in_step:
                return  # the step ended: the rollbacks are next, leave them alone
            if not _faults_active(run):
                log.info("cutting the pause after %r short: its fault is undone", step)
                _leave_now()
                return

    if step is not None:
        threading.Thread(target=cut_pause, name="cut-pause", daemon=True).start()


class Operator:
    """One person (or `--yes`) deciding, for one game day: across every run of a suite."""

    def __init__(self, confirm_all: bool = False) -> None:
        self.confirm_all = confirm_all
        """Unattended: every step is confirmed automatically (recorded as such)."""
        self.run: RunSession | None = None
        """The run in progress: where decisions and notes are recorded."""
        self.waiting: str | None = None
        """The step waiting for a decision, if any."""
        self.aborted: str | None = None
        """Why the game day was aborted (it stays aborted: a suite runs nothing more)."""
        self.label = ""
        """Where in a suite we are (`2/4 pod-hang.yaml`), for displays."""
        self.gates = 0
        """How many times a step has waited (displays prompt once per wait)."""
        self._cond = threading.Condition()
        self._decision: EventKind | None = None

    def attach(self, run: RunSession) -> None:
        with self._cond:
            self.run, self.waiting, self._decision = run, None, None
            run.outcome.aborted_by = run.outcome.aborted_by or self.aborted  # aborted between two runs of a suite
        run.plan.operator = self

    def detach(self) -> None:
        """The run is over: a later abort must not be recorded in (or try to interrupt) it."""
        with self._cond:
            self.run = None

    def gate(self, step: str) -> bool:
        """Block until the operator decides on `step`: True to run it, False to skip it; abort raises."""
        if self.confirm_all and not self.aborted:
            self._record(EventKind.CONFIRMED, f"{step} (confirmed automatically: --yes)")
            return True
        with self._cond:
            self.waiting, self._decision = step, None
            self.gates += 1
        log.warning("waiting for the operator to confirm step %r", step)
        try:
            with self._cond:
                while self._decision is None and self.aborted is None:
                    self._cond.wait(0.2)
                decision = self._decision
        finally:  # a stop condition, Ctrl-C or SIGTERM may end the wait too: nothing is waiting any more
            with self._cond:
                self.waiting = None
        if self.aborted is not None:
            raise InterruptExecution(f"aborted by the operator before {step!r}")
        return decision is EventKind.CONFIRMED

    def confirm(self) -> bool:
        """Run the waiting step. False when nothing is waiting."""
        return self._decide(EventKind.CONFIRMED)

    def skip(self) -> bool:
        """Do not run the waiting step (the run then cannot pass: its fault was not tested)."""
        return self._decide(EventKind.SKIPPED)

    def _decide(self, decision: EventKind) -> bool:
        with self._cond:
            if self.waiting is None or self._decision is not None:
                return False
            self._decision = decision
            self._record(decision, self.waiting)
            self._cond.notify_all()
            return True

    def abort(self, why: str = "the operator pressed abort") -> None:
        """Stop now: interrupt the running step (its fault undoes itself) and play the rollbacks."""
        with self._cond:
            if self.aborted is not None:
                return
            run = self.run
            where = (run.timeline.step or run.timeline.phase) if run else "between runs"
            self.aborted = f"{why} at {time.strftime('%H:%M:%S')} (during {where})"
            self._record(EventKind.ABORT, self.aborted)
            if run is not None:
                run.outcome.aborted_by = self.aborted
            waiting = self.waiting is not None
            self._cond.notify_all()
        if waiting or run is None:
            return  # `gate` raises in chaoslib's thread, or no run is in progress
        if not run.timeline.in_step:
            # outside a method step (warm-up, steady-state probes, rollbacks) nothing is interrupted: the
            # timeline control raises before the next activity that is not a rollback
            log.warning(
                "abort: %s",
                "the rollbacks are running" if run.timeline.phase is Phase.ROLLBACKS else "at the next step",
            )
            return
        log.warning("abort: interrupting %s and rolling back", run.timeline.step or run.timeline.phase)
        interrupt_method(run)

    def note(self, text: str) -> None:
        text = text.strip()
        if text:
            self._record(EventKind.NOTE, text)

    def _record(self, kind: EventKind, text: str) -> None:
        if self.run is not None:
            self.run.timeline.record(kind, text)
