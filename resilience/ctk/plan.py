"""`resilience run --dry-run`: what an experiment would do, resolved against the running platform, touching nothing.

Each of our fault actions is called in plan mode: it builds its fault from the experiment's arguments
(so bad arguments fail here too), resolves its selector against the live platform (so a selector that
matches nothing or exceeds the blast radius fails here too) and says what it would hit.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from chaoslib.exceptions import ActivityFailed

from resilience.engine import session
from resilience.engine.experiment import activities, load_experiment
from resilience.engine.session import RunSession

ACTIONS = "resilience.ctk.actions"


@dataclass(frozen=True, slots=True)
class PlannedStep:
    where: str
    """e.g. `method[0]`."""
    name: str
    plan: list[str]


def plan_experiment(path: Path, work_dir: Path) -> tuple[list[PlannedStep], list[str]]:
    """Validate `path` and resolve every fault action against the platform: (steps, problems)."""
    experiment, catalogue = load_experiment(path)
    run = session.begin(
        RunSession(experiment_path=path.resolve(), work_dir=work_dir, catalogue=catalogue, dry_run=True)
    )
    state_dir = (experiment.get("configuration") or {}).get("platform_state_dir")
    run.platform(Path(state_dir).resolve() if state_dir else None).status()  # PlatformError when it is not up
    steps, problems = [], []
    try:
        for where, activity in activities(experiment):
            provider = activity.get("provider") or {}
            name = activity.get("name", "?")
            if provider.get("type") != "python" or provider.get("module") != ACTIONS:
                what = provider.get("func") or provider.get("path") or provider.get("url") or provider.get("type")
                steps.append(PlannedStep(where, name, [f"{activity.get('type')} {provider.get('module', '')} {what}"]))
                continue
            func = getattr(importlib.import_module(ACTIONS), provider["func"])
            try:
                plan = func(**(provider.get("arguments") or {}))
            except ActivityFailed as exc:
                problems.append(f"{where} {name}: {exc}")
                plan = [f"CANNOT APPLY: {exc}"]
            steps.append(PlannedStep(where, name, [str(line) for line in plan]))
    finally:
        session.end()
    return steps, problems
