"""Run one experiment file through chaoslib, with load, and produce its report."""

from __future__ import annotations

import copy
import json
import logging
import os
import platform as py_platform
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from chaoslib.run import RunEventHandler

from resilience._version import __version__
from resilience.engine import session
from resilience.engine.experiment import experiment_target, load_experiment
from resilience.engine.operator import Operator
from resilience.engine.session import RunPlan, RunSession
from resilience.engine.verdict import assemble
from resilience.errors import PlatformError, UsageError
from resilience.faults import Ledger, recover
from resilience.load.workers import problems as load_problems
from resilience.model import Phase, RunReport
from resilience.report import write_html, write_json, write_junit, write_markdown
from resilience.slo import evaluate_all, seconds, window
from resilience.targets import TargetSpec, connect

log = logging.getLogger(__name__)

TIMELINE_CONTROL = {"resilience-timeline": {"provider": {"type": "python", "module": "resilience.ctk.timeline"}}}
"""A chaoslib global control: the run's phase and steps, and the game-day operator's gate before each fault."""

STRATEGIES = ("default", "before-method-only", "after-method-only", "during-method-only", "continuous")


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:48] or "experiment"


def default_report_dir(experiment_path: Path, root: Path = Path("reports")) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return root / f"{stamp}-{slug(experiment_path.stem)}"


def run_file(
    path: Path,
    report_dir: Path,
    strategy: str = "default",
    frequency_s: float = 2.0,
    operator: Operator | None = None,
    load_overrides: dict[str, Any] | None = None,
    target: TargetSpec | None = None,
    allowed_clusters: frozenset[str] = frozenset(),
) -> RunReport:
    """Validate and run the experiment at `path`; write journal.json and report.json into `report_dir`.

    With an `operator` (game days) every action of the method waits for the operator's decision.
    """
    from chaoslib.control import load_global_controls
    from chaoslib.experiment import run_experiment
    from chaoslib.types import Schedule, Strategy

    if strategy not in STRATEGIES:
        raise UsageError(f"--hypothesis-strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")
    experiment, catalogue = load_experiment(path)
    if operator is not None:
        _confirmable(path, experiment)
    target = target or experiment_target(path, experiment)
    _preflight(experiment, target, allowed_clusters)
    report_dir.mkdir(parents=True, exist_ok=True)
    run = session.begin(
        RunSession(
            RunPlan(
                experiment_path=path.resolve(),
                work_dir=report_dir.resolve(),
                catalogue=catalogue,
                title=str(experiment.get("title", "")),
                load_overrides=dict(load_overrides or {}),
                target=target,
                allowed_clusters=allowed_clusters,
            )
        )
    )
    if operator is not None:
        operator.attach(run)
    journal: dict[str, Any] = {}
    try:
        load_global_controls({"controls": copy.deepcopy(TIMELINE_CONTROL)})  # chaoslib unloads them after the run
        journal = run_experiment(
            experiment,
            # "always": rollbacks also run after an interrupt or a failed baseline; a fault never outlives its run.
            settings={"runtime": {"rollbacks": {"strategy": "always"}}},
            experiment_vars=None,
            strategy=Strategy(strategy),  # by value: chaoslib's from_string wants "continuously" for "continuous"
            schedule=Schedule(continuous_hypothesis_frequency=frequency_s, fail_fast=False),
            event_handlers=[_Phases(run)],
        )
    except KeyboardInterrupt:
        journal = {"experiment": experiment, "status": "interrupted", "run": [], "rollbacks": []}
        raise
    except SystemExit as exc:  # chaoslib's SIGUSR1 handler fired outside the part of the run that catches it
        log.error("the run was interrupted outside a step (exit signal %s); undoing what it left", exc.code)
        journal = {"experiment": experiment, "status": "interrupted", "run": [], "rollbacks": []}
    except Exception as exc:  # chaoslib itself broke: the report says so (exit 3), never a pass from an empty journal
        log.exception("the run broke inside chaoslib; undoing what it left")
        run.outcome.errors.append(
            f"chaoslib raised {type(exc).__name__}: {exc} (traceback in {report_dir / 'crash.txt'})"
        )
        (report_dir / "crash.txt").write_text(traceback.format_exc())
        journal = {"experiment": experiment, "status": "failed", "run": [], "rollbacks": []}
    finally:
        run.timeline.phase, run.timeline.step, run.timeline.in_step = Phase.DONE, None, False
        if operator is not None:
            operator.detach()
        session.end()
        _undo_leftovers(run)
        report = _finish(journal, run, report_dir)
    return report


class _Phases(RunEventHandler):  # type: ignore[misc]
    """Where chaoslib is, from its own run events (called in the main thread, around the activities)."""

    def __init__(self, run: RunSession) -> None:
        self.run = run

    def start_hypothesis_before(self, experiment: Any) -> None:
        self.run.timeline.phase = Phase.STEADY_STATE

    def start_method(self, experiment: Any) -> None:
        self.run.timeline.phase = Phase.METHOD

    def method_completed(self, experiment: Any, state: Any = None) -> None:
        self.run.timeline.phase = Phase.AFTER_METHOD

    def start_rollbacks(self, experiment: Any) -> None:
        self.run.timeline.phase, self.run.timeline.in_step = Phase.ROLLBACKS, False

    def rollbacks_completed(self, experiment: Any, journal: Any) -> None:
        self.run.timeline.phase = Phase.DONE

    def activity_completed(self, activity: Any, run: Any) -> None:
        """Ctrl-C during an activity: skip its `pauses.after`. chaoslib (1.44) calls this inside the `finally`
        that then sleeps out the pause even while the interrupt propagates (its `interrupted` flag is never
        set); re-raising the interrupt from here leaves that `finally` before the sleep."""
        exc = sys.exc_info()[1]
        pause = (activity.get("pauses") or {}).get("after") if isinstance(activity, dict) else None
        if isinstance(exc, KeyboardInterrupt) and pause:
            log.warning("interrupted during %r: skipping its %ss pause; rolling back", activity.get("name"), pause)
            raise exc


def _confirmable(path: Path, experiment: dict[str, Any]) -> None:
    """A game day confirms each fault step in the main thread: a background action could not be confirmed."""
    for activity in experiment.get("method") or []:
        if activity.get("type") == "action" and activity.get("background"):
            raise UsageError(
                f"{path}: method action {activity.get('name')!r} has `background: true`; a game day confirms "
                "each fault step before it runs and cannot confirm one in the background: remove `background`"
            )


def _undo_leftovers(run: RunSession) -> None:
    """Whatever the experiment's rollbacks left in the fault ledger is undone here: no fault outlives its run."""
    try:
        platform = run.platform()
    except PlatformError:
        return
    for result in recover(Ledger(platform.state_dir / "ledger"), platform, run_pid=os.getpid()):
        what = f"{result.entry.kind.value} on {result.entry.target}"
        if result.error:
            run.book.rollback_failures.append(f"{what} ({result.error})")
        else:
            log.warning("rolled back %s, which the experiment left behind", what)
            run.book.rolled_back_by_engine.append(what)


def _preflight(experiment: dict[str, Any], target: TargetSpec | None, allowed: frozenset[str]) -> None:
    """Fail before anything starts when the target is not allowed (exit 2) or does not answer (exit 3)."""
    state_dir = (experiment.get("configuration") or {}).get("platform_state_dir")
    connect(Path(state_dir).resolve() if state_dir else None, target, set(allowed)).status()


def _finish(journal: dict[str, Any], run: RunSession, report_dir: Path) -> RunReport:
    slos = []
    load = None
    if run.measured.load is not None and run.plan.catalogue is not None:
        slices = window(run.measured.load.slices(), run.measured.measure_from, run.measured.measure_to)
        faults = [f.injected_at for f in run.book.faults]
        slos = evaluate_all([run.plan.catalogue[n] for n in run.plan.run_slos], slices, faults, judge_confidence=True)
        load = run.measured.load.summary()
        run.outcome.errors += [e for e in load_problems(load) if e not in run.outcome.errors]  # never a pass
    environment = {
        "resilience": __version__,
        "python": py_platform.python_version(),
        "host": py_platform.node(),
        "platform": py_platform.platform(),
        "chaostoolkit_lib": _version("chaostoolkit-lib"),
        "target": f"kubernetes {run.plan.target.key}" if run.plan.target else "local reference platform",
    }
    timeline = (
        seconds(window(run.measured.load.slices(), run.measured.measure_from, run.measured.measure_to))
        if run.measured.load is not None
        else ()
    )
    report = assemble(journal, run, slos, load, environment, timeline)
    (report_dir / "journal.json").write_text(json.dumps(journal, indent=2, default=str))
    write_json(report, report_dir / "report.json")
    write_junit([report], report_dir / "report.xml")
    write_markdown([report], report_dir / "report.md")
    write_html(report, report_dir / "report.html")
    _link_latest(report_dir)
    return report


def _link_latest(report_dir: Path, root: Path = Path("reports")) -> None:
    """Point reports/latest at this run, only when it went to the default place (a `--report-dir` the user
    chose gets no `latest` beside it, in a folder that may not be ours)."""
    if report_dir.resolve().parent != root.resolve():
        return
    latest = report_dir.parent / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(report_dir.name)
    except OSError as exc:
        log.warning("could not point %s at %s: %s", latest, report_dir, exc)


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None
