"""The timeline control: the step the run is in, and the game-day operator's gate before each fault.

`resilience run`, `suite` and `gameday` register it as a chaoslib global control, so it sees every
activity of every experiment without the experiment declaring it; the phase (steady state, method,
rollbacks) comes from chaoslib's run events (`resilience.engine.runner`). Before each action of the
method it asks the operator, when there is one (`resilience gameday`): run it, skip it, or abort.
Only activities on the main thread are steps: background activities and the continuous steady-state
checks run in chaoslib's pools.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
import time
from typing import Any

from chaoslib.exceptions import InterruptExecution
from chaoslib.types import Dry

from resilience.engine import session
from resilience.engine.operator import guard_interrupts
from resilience.model import EventKind, Phase

__all__ = ["after_activity_control", "before_activity_control"]

log = logging.getLogger("chaostoolkit.resilience")


def before_activity_control(context: dict[str, Any], **arguments: Any) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    run = session.current()
    name = str(context.get("name", "?"))
    if run.timeline.phase is not Phase.ROLLBACKS and run.outcome.aborted_by:
        raise InterruptExecution(f"aborted by the operator before {name!r}")
    gated = run.timeline.phase is Phase.METHOD and context.get("type") == "action" and run.plan.operator is not None
    try:
        if gated and run.plan.operator is not None and not run.plan.operator.gate(name):
            context["dry"] = Dry.ACTIONS  # chaoslib reads it after this control: the action is not called
            run.book.skipped.append(name)
        run.timeline.step, run.timeline.step_started, run.timeline.step_expected_s = (
            name,
            time.time(),
            _expected_s(context),
        )
        run.timeline.step_interrupted = False
        run.timeline.in_step = run.timeline.phase is Phase.METHOD
        if run.timeline.in_step:
            guard_interrupts(run)
        run.timeline.record(EventKind.STEP, f"{run.timeline.phase}: {context.get('type', 'activity')} {name}")
    except InterruptExecution:
        raise
    except Exception as exc:  # chaoslib would only log it (at debug level) and run the action anyway
        if gated:
            raise InterruptExecution(f"could not ask the operator about {name!r}: {exc}") from exc
        log.warning("timeline: %s", exc)


def after_activity_control(context: dict[str, Any], state: Any = None, **arguments: Any) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    run = session.current()
    run.timeline.in_step = False
    name = str(context.get("name", "?"))
    if name in run.book.skipped and context.get("dry") is Dry.ACTIONS:
        del context["dry"]  # the same activity may come again (a ref, a YAML alias): ask again then
    status = state.get("status", "?") if isinstance(state, dict) else "interrupted"
    run.timeline.record(EventKind.STEP_END, f"{name}: {status}")
    run.timeline.step = run.timeline.step_started = run.timeline.step_expected_s = None


def _expected_s(activity: dict[str, Any]) -> float | None:
    """How long the step should take: its `duration_s` (or the function's default for it) plus its pauses."""
    provider = activity.get("provider") or {}
    pauses = activity.get("pauses") or {}
    try:
        total = sum(float(pauses.get(k) or 0) for k in ("before", "after"))
    except (TypeError, ValueError):
        total = 0.0  # e.g. "${cooldown}": known only once chaoslib substitutes it
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
