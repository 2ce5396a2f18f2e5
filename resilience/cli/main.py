"""`resilience`: run chaos experiments under real load and get SLO verdicts with a strict exit code.

The commands only parse arguments: every run goes through `execute` (cli/execute.py), the platform commands
live in cli/platform_cmds.py, the tables in resilience/report/.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
from pathlib import Path
from typing import Any

import click

from resilience._version import __version__
from resilience.cli.common import exit_codes, fail, out_console, setup_logging
from resilience.cli.execute import Job, execute
from resilience.cli.load_cmds import load
from resilience.cli.platform_cmds import platform, recover
from resilience.cli.slo_cmds import slo
from resilience.cli.targeting import resolve_target, target_options
from resilience.errors import ResilienceError
from resilience.model import ExitCode
from resilience.targets.clusters import TargetSpec

_GLOBAL_FLAGS = {"-q", "--quiet", "-v", "-vv", "-vvv", "--verbose"}


class _Group(click.Group):
    """Bad usage exits 2 (click's default) with its message; ours say the fix too. `-q` and `-v` work
    after the command too (`resilience run -q X`), as users type them."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:end] if a in _GLOBAL_FLAGS]
        rest = [a for a in args[:end] if a not in _GLOBAL_FLAGS] + args[end:]
        return super().parse_args(ctx, flags + rest)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="resilience")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings, errors and the verdict.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Chaos experiments under real load, with SLO verdicts you can gate a release on.

    Exit codes: 0 every SLO met and every fault landed; 1 an SLO failed or the steady state
    deviated; 2 invalid input or usage; 3 a fault could not be applied, or the run aborted.
    """
    setup_logging(verbose, quiet)
    ctx.obj = {"quiet": quiet}


@cli.command()
@click.argument("experiment", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write report.json and journal.json [default: reports/<UTC time>-<name>/].",
)
@click.option(
    "--hypothesis-strategy",
    default="default",
    show_default=True,
    help="When to check the steady state: default, before-method-only, after-method-only, "
    "during-method-only, continuous.",
)
@click.option(
    "--hypothesis-frequency",
    default=2.0,
    show_default=True,
    type=float,
    help="Seconds between steady-state checks during the method (continuous strategies).",
)
@click.option(
    "--with-platform",
    is_flag=True,
    help="Start the local reference platform first (unless it runs) and stop it afterwards.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate, resolve every fault's targets against the running platform, print the plan; touch nothing.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print report.json to stdout instead of the tables (for machines)."
)
@target_options
@click.pass_context
def run(
    ctx: click.Context,
    /,
    experiment: Path,
    report_dir: Path | None,
    hypothesis_strategy: str,
    hypothesis_frequency: float,
    with_platform: bool,
    dry_run: bool,
    as_json: bool,
    **target: Any,
) -> None:
    """Run EXPERIMENT (a Chaos Toolkit file) with load, and judge it against its SLOs."""
    from resilience.engine.runner import default_report_dir

    with exit_codes():
        spec, allowed = resolve_target(with_platform=with_platform, **target)
    if dry_run:
        _dry_run(experiment, with_platform, spec, allowed)
        return
    execute(
        Job(
            experiment,
            report_dir or default_report_dir(experiment),
            with_platform,
            ctx.obj["quiet"],
            as_json,
            hypothesis_strategy,
            hypothesis_frequency,
            target=spec,
            allowed_clusters=allowed,
        ),
        suite=False,
    )


def _dry_run(experiment: Path, with_platform: bool, spec: TargetSpec | None, allowed: frozenset[str]) -> None:
    """Validate and resolve every fault against the platform (started for the plan with --with-platform)."""
    from resilience.cli.common import local_platform
    from resilience.ctk.plan import plan_experiment
    from resilience.engine.experiment import experiment_target, load_experiment
    from resilience.report import render_plan

    with exit_codes("interrupted; nothing was touched"):
        loaded, _ = load_experiment(experiment)  # bad input fails before a platform starts
        with local_platform(with_platform):
            steps, problems = plan_experiment(loaded, spec or experiment_target(experiment, loaded), allowed)
    out_console().print(render_plan(experiment, [(s.where, s.name, s.plan) for s in steps]))
    if problems:
        fail("these steps cannot apply: " + "; ".join(problems), ExitCode.FAULT_OR_ABORT)


def _suite_options(f: Any) -> Any:
    f = click.option(
        "--report-dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="Where to write suite.json, report.xml, report.md and one folder per experiment "
        "[default: reports/<UTC time>-<suite>/].",
    )(f)
    f = click.option("--with-platform", is_flag=True, help="Start the suite's platform profile first, stop it after.")(
        f
    )
    f = click.option(
        "--json", "as_json", is_flag=True, help="Print suite.json to stdout instead of the table (for machines)."
    )(f)
    return click.argument("suite_file", type=click.Path(path_type=Path, dir_okay=False))(f)


@cli.command()
@_suite_options
@click.pass_context
def suite(ctx: click.Context, suite_file: Path, report_dir: Path | None, with_platform: bool, as_json: bool) -> None:
    """Run every experiment of SUITE_FILE in order; aggregated verdict and resilience score."""
    from resilience.engine.runner import default_report_dir

    execute(
        Job(suite_file, report_dir or default_report_dir(suite_file), with_platform, ctx.obj["quiet"], as_json), True
    )


@cli.command()
@_suite_options
@click.option("--baseline", type=click.Path(path_type=Path, dir_okay=False), help="A suite.json from a known-good run.")
@click.option(
    "--max-latency-regression", type=float, default=10.0, show_default=True, help="Percent worse than baseline."
)
@click.option(
    "--max-budget-increase", type=float, default=10.0, show_default=True, help="Percentage points more budget spent."
)
@click.pass_context
def gate(
    ctx: click.Context,
    suite_file: Path,
    report_dir: Path | None,
    with_platform: bool,
    as_json: bool,
    baseline: Path | None,
    max_latency_regression: float,
    max_budget_increase: float,
) -> None:
    """The CI release gate: run SUITE_FILE; fail on any SLO, and on a regression against --baseline.

    Exit 0 ship; 1 an SLO failed or got worse than the baseline beyond the tolerances; 2 bad input;
    3 a fault did not land or the run aborted. Writes JUnit (report.xml) and Markdown (report.md, also
    appended to $GITHUB_STEP_SUMMARY) for the CI system.
    """
    from resilience.engine.runner import default_report_dir
    from resilience.engine.suite import Tolerances

    tol = Tolerances(max_latency_regression / 100, max_budget_increase / 100)
    target = report_dir or default_report_dir(suite_file)
    execute(Job(suite_file, target, with_platform, ctx.obj["quiet"], as_json, baseline=baseline, tolerances=tol), True)


@cli.command()
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write the reports [default: reports/<UTC time>-<name>/].",
)
@click.option("--with-platform", is_flag=True, help="Start the local reference platform first, stop it after.")
@click.option(
    "--web-ui",
    "web_ui",
    type=click.IntRange(1024, 65535),
    default=None,
    help="Also serve Locust's web UI on 127.0.0.1:PORT while the load runs.",
)
@click.option("--yes", is_flag=True, help="Confirm every fault step automatically (an unattended rehearsal).")
@click.option("--lines", is_flag=True, help="Line output and stdin commands even on a terminal.")
@click.pass_context
def gameday(
    ctx: click.Context,
    target: Path,
    report_dir: Path | None,
    with_platform: bool,
    web_ui: int | None,
    yes: bool,
    lines: bool,
) -> None:
    """Run an experiment or a suite as a game day: live dashboard, each fault step confirmed by the operator.

    Keys on a terminal: y confirm the step, s skip it, n write an observer note, a ABORT (interrupts the
    running fault and rolls back at once), Ctrl-C interrupt. Not on a terminal (or with --lines): status
    lines on stdout, and one command per line on stdin (y, s, a; any other line is a note).
    The notes and every decision, with their times, go into the reports.
    """
    from resilience.cli.gameday import GameDay
    from resilience.engine.operator import Operator
    from resilience.engine.runner import default_report_dir

    target_dir = report_dir or default_report_dir(target)
    operator = Operator(confirm_all=yes)
    tty = sys.stdin.isatty() and sys.stdout.isatty() and not lines
    day = GameDay(operator, target_dir / "gameday.log", tty)
    overrides = {"web_ui_port": web_ui} if web_ui else {}
    execute(
        Job(target, target_dir, with_platform, quiet=True, operator=operator, load_overrides=overrides, ui=day.running),
        suite=None,  # an experiment or a suite: whichever the file holds
    )


cli.add_command(recover)
cli.add_command(platform)
cli.add_command(slo)
cli.add_command(load)


def main() -> None:
    # `kill -QUIT PID` prints where every thread of a run is (stderr) and lets it go on: for a run that seems stuck.
    faulthandler.register(signal.SIGQUIT, all_threads=True)
    try:
        cli.main(standalone_mode=True)
    except ResilienceError as exc:  # a path we did not map: still no traceback for the user
        fail(str(exc), ExitCode.FAULT_OR_ABORT)
