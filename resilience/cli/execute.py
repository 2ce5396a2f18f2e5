"""The one path every run takes — `run`, `suite`, `gate` and `gameday`, of an experiment or a suite: validate,
start the platform if asked, run, judge (against a baseline for the gate), write, render, exit with the verdict's
code. Bad input fails before anything starts; SIGTERM takes Ctrl-C's path, so rollbacks always run."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from resilience.cli.common import err_console, exit_codes, local_platform, out_console
from resilience.cli.progress import RunProgress, progress_enabled

if TYPE_CHECKING:
    from resilience.engine.operator import Operator
    from resilience.engine.suite import Tolerances
    from resilience.targets.clusters import TargetSpec

REPORT_FILES = ("report.json", "report.xml", "report.md", "report.html", "journal.json", "suite.json", "gameday.log")


@dataclass(frozen=True)
class Job:
    path: Path
    """An experiment or a suite file."""
    report_dir: Path
    with_platform: bool = False
    quiet: bool = False
    as_json: bool = False
    hypothesis_strategy: str = "default"
    hypothesis_frequency: float = 2.0
    baseline: Path | None = None
    """The gate's known-good suite.json."""
    tolerances: Tolerances | None = None
    operator: Operator | None = None
    """A game day's operator (None: nobody confirms steps)."""
    load_overrides: dict[str, Any] = field(default_factory=dict)
    ui: Callable[[], contextlib.AbstractContextManager[None]] | None = None
    """A game day's dashboard, shown while the run runs."""
    target: TargetSpec | None = None
    """A cluster namespace to run on (None: the local platform, or the experiment's `target` block)."""
    allowed_clusters: frozenset[str] = frozenset()


def execute(job: Job, suite: bool | None) -> NoReturn:
    """Run `job.path` as a suite (True), an experiment (False), or whichever the file holds (None: game days)."""
    from resilience.engine.suite import is_suite

    if suite is None:
        with exit_codes("interrupted"):
            suite = is_suite(job.path)  # a missing or unreadable file fails here, with exit 2
    if suite:
        _execute_suite(job)
    _execute_experiment(job)


def _bar(job: Job) -> RunProgress:
    return RunProgress(err_console, progress_enabled(err_console, job.quiet, job.as_json) and job.operator is None)


def _written(report_dir: Path) -> str:
    return ", ".join(name for name in REPORT_FILES if (report_dir / name).exists())


def _execute_experiment(job: Job) -> NoReturn:
    from resilience.engine.experiment import load_experiment
    from resilience.engine.runner import run_file
    from resilience.report import render_console, to_dict

    bar = _bar(job)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with exit_codes(f"interrupted; load stopped, rollbacks ran; partial report in {job.report_dir}"), bar.shown():
        load_experiment(job.path)  # bad input fails before anything starts
        show = job.operator is None and not job.as_json
        with local_platform(job.with_platform, bar, show=show), job.ui() if job.ui else contextlib.nullcontext():
            report = run_file(
                job.path,
                job.report_dir,
                job.hypothesis_strategy,
                job.hypothesis_frequency,
                operator=job.operator,
                load_overrides=job.load_overrides,
                target=job.target,
                allowed_clusters=job.allowed_clusters,
            )
    if job.as_json:
        click.echo(json.dumps(to_dict(report), indent=2, default=str))
    else:
        out_console().print(render_console(report))
        out_console().print(f"reports: {job.report_dir}/ {_written(job.report_dir)}", highlight=False)
    sys.exit(int(report.exit_code))


def _execute_suite(job: Job) -> NoReturn:
    from resilience.engine.suite import (
        Tolerances,
        aggregate,
        check_baseline_covers,
        load_suite,
        read_baseline,
        regressions,
    )
    from resilience.engine.suite import run_suite as run_all
    from resilience.report import (
        render_suite_console,
        suite_header,
        suite_to_dict,
        write_junit,
        write_markdown,
        write_suite_json,
    )

    bar = _bar(job)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with exit_codes(f"interrupted; rollbacks ran; partial reports in {job.report_dir}"), bar.shown():
        suite = load_suite(job.path)  # bad input fails before anything starts
        base = read_baseline(job.baseline) if job.baseline else None
        if base is not None and job.baseline is not None:
            check_baseline_covers(job.path, suite, base, job.baseline)
        profile = suite.platform
        config = (job.path.parent / profile.config) if profile.config else None
        up: dict[str, Any] = {"replicas": profile.replicas, "regions": profile.regions, "pipeline": profile.pipeline}
        with (
            local_platform(job.with_platform, bar, netns=profile.netns, config=config, **up),
            job.ui() if job.ui else contextlib.nullcontext(),
        ):
            result = run_all(job.path, job.report_dir, job.operator, job.load_overrides)
        if base is not None:
            found = regressions(result, base, job.tolerances or Tolerances())
            result = aggregate(result.name, list(result.runs), found)
    write_suite_json(result, job.report_dir / "suite.json")
    reports = [run.report for run in result.runs]
    write_junit(reports, job.report_dir / "report.xml", suite=result)
    write_markdown(reports, job.report_dir / "report.md", header=suite_header(result, gate=base is not None))
    if job.as_json:
        click.echo(json.dumps(suite_to_dict(result), indent=2, default=str))
    else:
        out_console().print(render_suite_console(result, gate=base is not None))
        out_console().print(f"reports: {job.report_dir}/ {_written(job.report_dir)}", highlight=False)
    sys.exit(int(result.exit_code))
