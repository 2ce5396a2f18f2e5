"""`resilience run --dry-run`: what an experiment would do, resolved against the running platform, touching nothing.

Each of our fault actions builds its fault from the experiment's arguments (so bad arguments fail here too)
and asks the fault's own `plan(platform)`: its selector is resolved against the live platform (so a selector
that matches nothing or exceeds the blast radius fails here too) and it says what it would hit. Nothing is
switched into a "dry" mode: planning and injecting are different methods of the fault.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience.ctk import actions
from resilience.engine.experiment import activities
from resilience.errors import ResilienceError
from resilience.targets import TargetSpec, connect

ACTIONS = "resilience.ctk.actions"


@dataclass(frozen=True, slots=True)
class PlannedStep:
    where: str
    """e.g. `method[0]`."""
    name: str
    plan: list[str]


def _describe(func: Any, arguments: dict[str, Any]) -> str:
    """A step that is not a fault (a rollback helper): its own summary line and the arguments it gets."""
    summary = (inspect.getdoc(func) or func.__name__).splitlines()[0]
    return summary + (f" ({', '.join(f'{k}={v!r}' for k, v in arguments.items())})" if arguments else "")


def plan_experiment(
    experiment: dict[str, Any], target: TargetSpec | None = None, allowed: frozenset[str] = frozenset()
) -> tuple[list[PlannedStep], list[str]]:
    """Resolve every fault action of a validated experiment against the target: (steps, problems)."""
    state_dir = (experiment.get("configuration") or {}).get("platform_state_dir")
    platform = connect(Path(state_dir).resolve() if state_dir else None, target, set(allowed))
    platform.status()  # PlatformError when it is not up
    steps, problems = [], []
    for where, activity in activities(experiment):
        provider = activity.get("provider") or {}
        name = activity.get("name", "?")
        if provider.get("type") != "python" or provider.get("module") != ACTIONS:
            what = provider.get("func") or provider.get("path") or provider.get("url") or provider.get("type")
            steps.append(PlannedStep(where, name, [f"{activity.get('type')} {provider.get('module', '')} {what}"]))
            continue
        func = getattr(actions, provider["func"])
        arguments = provider.get("arguments") or {}
        build = getattr(func, "build", None)
        try:
            plan = build(**arguments).plan(platform) if build else [_describe(func, arguments)]
        except ResilienceError as exc:
            problems.append(f"{where} {name}: {exc}")
            plan = [f"CANNOT APPLY: {exc}"]
        steps.append(PlannedStep(where, name, [str(line) for line in plan]))
    return steps, problems
