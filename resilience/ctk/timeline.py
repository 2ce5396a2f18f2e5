"""The timeline control: which phase and step the run is in, and the game-day operator's gate before each fault.

`resilience run`, `suite` and `gameday` register it as a chaoslib global control, so it sees every
activity of every experiment without the experiment declaring it. Before each action of the method it
asks the operator, when there is one (`resilience gameday`): run it, skip it, or abort.
"""

from __future__ import annotations

import importlib
import inspect
import time
from typing import Any

from chaoslib.exceptions import InterruptExecution
from chaoslib.types import Dry

from resilience.engine import session
from resilience.model import EventKind

__all__ = [
    "after_activity_control",
    "after_experiment_control",
    "before_activity_control",
    "before_hypothesis_control",
]


def before_hypothesis_control(context: dict[str, Any], **arguments: Any) -> None:
    run = session.current()
    if run.phase in ("setup", "steady-state"):
        run.phase = "steady-state"
    _stop_if_aborted(run, "the steady-state check")


def before_activity_control(
    context: dict[str, Any], experiment: dict[str, Any] | None = None, **arguments: Any
) -> None:
    run = session.current()
    name = str(context.get("name", "?"))
    where = _where(context, experiment or {})
    if where != "steady-state":
        run.phase = where
    if where != "rollbacks":
        _stop_if_aborted(run, name)
    run.step, run.step_started, run.step_expected_s = name, time.time(), _expected_s(context)
    if where == "method" and context.get("type") == "action" and run.operator is not None:
        if not run.operator.gate(name):
            context["dry"] = Dry.ACTIONS  # chaoslib reads it after this control: the action is not called
            run.skipped.append(name)
        run.step_started = time.time()  # the step's clock starts when the operator let it
    run.record(EventKind.STEP, f"{where}: {context.get('type', 'activity')} {name}")


def after_activity_control(context: dict[str, Any], state: Any = None, **arguments: Any) -> None:
    run = session.current()
    status = state.get("status", "?") if isinstance(state, dict) else "interrupted"
    run.record(EventKind.STEP_END, f"{context.get('name', '?')}: {status}")
    run.step = run.step_started = run.step_expected_s = None


def after_experiment_control(context: dict[str, Any], **arguments: Any) -> None:
    """The rollbacks are done: nothing may interrupt the run any more."""
    run = session.current()
    run.phase, run.step = "done", None


def _stop_if_aborted(run: session.RunSession, what: str) -> None:
    if run.aborted_by:
        raise InterruptExecution(f"aborted by the operator before {what}")


def _where(activity: dict[str, Any], experiment: dict[str, Any]) -> str:
    def has(activities: Any) -> bool:
        return any(a is activity for a in activities or []) or activity in (activities or [])

    if has(experiment.get("method")):
        return "method"
    if has(experiment.get("rollbacks")):
        return "rollbacks"
    return "steady-state"


def _expected_s(activity: dict[str, Any]) -> float | None:
    """How long the step should take: its `duration_s` (or the function's default for it) plus its pauses."""
    provider = activity.get("provider") or {}
    pauses = activity.get("pauses") or {}
    total = sum(float(pauses.get(k) or 0) for k in ("before", "after"))
    duration = (provider.get("arguments") or {}).get("duration_s")
    if duration is None and provider.get("type") == "python":
        try:
            func = getattr(importlib.import_module(provider["module"]), provider["func"])
            default = inspect.signature(func).parameters.get("duration_s")
            duration = default.default if default is not None else None
        except (ImportError, AttributeError, KeyError, TypeError, ValueError):
            duration = None
    if isinstance(duration, int | float):
        total += float(duration)
    return total or None
