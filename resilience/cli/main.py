"""`resilience`: run chaos experiments under real load and get SLO verdicts with a strict exit code."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from resilience import __version__
from resilience.errors import PlatformError, ResilienceError, UsageError
from resilience.model import ExitCode
from resilience.targets import LocalPlatform, default_state_dir, lifecycle

if TYPE_CHECKING:
    from resilience.cli.live import RunProgress
    from resilience.engine.operator import Operator
    from resilience.model.capacity import Capacity

err_console = Console(stderr=True, soft_wrap=True)  # long lines stay whole when piped or grepped


def out_console() -> Console:
    """stdout for tables: a terminal's own width; piped (a CI log, a file) wide enough that no cell is cut."""
    console = Console()
    return console if console.is_terminal or "COLUMNS" in os.environ else Console(width=160)


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = RichHandler(console=err_console, show_path=False, markup=False, rich_tracebacks=False)
    logging.basicConfig(level=level, format="%(message)s", datefmt="%H:%M:%S", handlers=[handler], force=True)
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # chaoslib logs through "chaostoolkit"; keep its INFO lines, they narrate the experiment.
    logging.getLogger("chaostoolkit").setLevel(level)
    # we ask for rollbacks "always" on purpose (a fault never outlives its run): not a warning to the user
    handler.addFilter(lambda record: "Rollbacks were explicitly requested" not in record.getMessage())


def _fail(message: str, code: ExitCode) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(int(code))


@contextlib.contextmanager
def _local_platform(
    enabled: bool, bar: RunProgress | None = None, show: bool = False, **up_args: Any
) -> Iterator[None]:
    """With `enabled`, start the local platform unless it runs (its table printed with `show`), and stop it
    afterwards if it was started here. `bar` shows the pods becoming ready; without one, a spinner."""
    state_dir = default_state_dir()
    started_here = False
    try:
        if enabled:
            started_here = lifecycle.running(state_dir) is None
            shown = bar is not None and bar.enabled
            with contextlib.nullcontext() if shown else err_console.status("starting the reference platform..."):
                plat = lifecycle.up(state_dir, on_progress=bar.platform if bar else None, **up_args)
            if show:
                _print_status(plat)
        yield
    finally:
        if started_here:
            with err_console.status("stopping the reference platform..."):
                lifecycle.down(state_dir)


@contextlib.contextmanager
def _exit_codes(interrupted: str) -> Iterator[None]:
    """Map what a run can raise to the exit-code contract: bad input 2; interrupt, fault, platform 3."""
    try:
        yield
    except UsageError as exc:
        _fail(str(exc), ExitCode.USAGE)
    except KeyboardInterrupt:
        _fail(interrupted, ExitCode.FAULT_OR_ABORT)
    except ResilienceError as exc:
        _fail(str(exc), ExitCode.FAULT_OR_ABORT)


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
    _setup_logging(verbose, quiet)
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
@click.pass_context
def run(
    ctx: click.Context,
    experiment: Path,
    report_dir: Path | None,
    hypothesis_strategy: str,
    hypothesis_frequency: float,
    with_platform: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run EXPERIMENT (a Chaos Toolkit file) with load, and judge it against its SLOs."""
    from resilience.cli.live import RunProgress, progress_enabled
    from resilience.engine.experiment import load_experiment
    from resilience.engine.runner import default_report_dir, run_file
    from resilience.report import render_console

    if dry_run:
        _dry_run(experiment)
        return
    out = out_console()
    target_dir = report_dir or default_report_dir(experiment)
    bar = RunProgress(err_console, progress_enabled(err_console, ctx.obj["quiet"], as_json))
    # SIGTERM (a CI job cancelled, `kill`) takes the same path as Ctrl-C: rollbacks run before exit.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with _exit_codes(f"interrupted; load stopped, rollbacks ran; partial report in {target_dir}"), bar.shown():
        if with_platform:
            load_experiment(experiment)  # bad input fails before anything starts
        with _local_platform(with_platform, bar, show=not as_json):
            report = run_file(experiment, target_dir, hypothesis_strategy, hypothesis_frequency)
    if as_json:
        from resilience.report import to_dict

        click.echo(json.dumps(to_dict(report), indent=2, default=str))
    else:
        out.print(render_console(report))
        out.print(
            f"reports: {target_dir}/ report.json, report.xml, report.md, report.html, journal.json", highlight=False
        )
    sys.exit(int(report.exit_code))


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


def _run_suite(
    suite_file: Path,
    report_dir: Path | None,
    with_platform: bool,
    quiet: bool,
    baseline: Path | None = None,
    tolerances: Any = None,
    operator: Operator | None = None,
    load_overrides: dict[str, Any] | None = None,
    ui: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
    as_json: bool = False,
) -> None:
    """Run a suite (optionally gated against a baseline, or as a game day) and exit with its code."""
    from resilience.cli.live import RunProgress, progress_enabled
    from resilience.engine.runner import default_report_dir
    from resilience.engine.suite import (
        aggregate,
        check_baseline_covers,
        load_suite,
        read_baseline,
        regressions,
        run_suite,
    )
    from resilience.report import render_suite_console, suite_header, write_junit, write_markdown, write_suite_json

    target_dir = report_dir or default_report_dir(suite_file)
    bar = RunProgress(err_console, progress_enabled(err_console, quiet, as_json) and operator is None)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with _exit_codes(f"interrupted; rollbacks ran; partial reports in {target_dir}"), bar.shown():
        suite = load_suite(suite_file)  # bad input fails before anything starts
        base = read_baseline(baseline) if baseline else None
        if base is not None and baseline is not None:
            check_baseline_covers(suite_file, suite, base, baseline)
        profile = suite.platform
        with (
            _local_platform(
                with_platform,
                bar,
                replicas=profile.replicas,
                regions=profile.regions,
                pipeline=profile.pipeline,
                netns=profile.netns,
                config=(suite_file.parent / profile.config) if profile.config else None,
            ),
            ui() if ui else contextlib.nullcontext(),
        ):
            result = run_suite(suite_file, target_dir, operator, load_overrides)
        if base is not None:
            found = regressions(result, base, tolerances)
            result = aggregate(result.name, list(result.runs), found)
    write_suite_json(result, target_dir / "suite.json")
    reports = [run.report for run in result.runs]
    write_junit(reports, target_dir / "report.xml", suite=result)
    write_markdown(reports, target_dir / "report.md", header=suite_header(result, gate=base is not None))
    if as_json:
        from resilience.report import suite_to_dict

        click.echo(json.dumps(suite_to_dict(result), indent=2, default=str))
        sys.exit(int(result.exit_code))
    out = out_console()
    out.print(render_suite_console(result, gate=base is not None))
    out.print(f"reports: {target_dir}/suite.json, report.xml, report.md", highlight=False)
    sys.exit(int(result.exit_code))


@cli.command()
@_suite_options
@click.pass_context
def suite(ctx: click.Context, suite_file: Path, report_dir: Path | None, with_platform: bool, as_json: bool) -> None:
    """Run every experiment of SUITE_FILE in order; aggregated verdict and resilience score."""
    _run_suite(suite_file, report_dir, with_platform, ctx.obj["quiet"], as_json=as_json)


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
    from resilience.engine.suite import Tolerances

    tol = Tolerances(max_latency_regression / 100, max_budget_increase / 100)
    _run_suite(suite_file, report_dir, with_platform, ctx.obj["quiet"], baseline, tol, as_json=as_json)


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
    from resilience.cli.live import GameDay
    from resilience.engine.operator import Operator
    from resilience.engine.runner import default_report_dir, run_file
    from resilience.engine.suite import is_suite
    from resilience.report import render_console

    target_dir = report_dir or default_report_dir(target)
    operator = Operator(confirm_all=yes)
    tty = sys.stdin.isatty() and sys.stdout.isatty() and not lines
    day = GameDay(operator, target_dir / "gameday.log", tty)
    overrides = {"web_ui_port": web_ui} if web_ui else {}
    with _exit_codes("interrupted; rollbacks ran"):
        suite_file = is_suite(target)  # bad input (a missing or unreadable file) fails here, with exit 2
    if suite_file:
        _run_suite(target, target_dir, with_platform, True, operator=operator, load_overrides=overrides, ui=day.running)
        return
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with _exit_codes(f"interrupted; load stopped, rollbacks ran; partial report in {target_dir}"):
        from resilience.engine.experiment import load_experiment

        load_experiment(target)  # bad input fails before anything starts
        with _local_platform(with_platform), day.running():
            report = run_file(target, target_dir, operator=operator, load_overrides=overrides)
    out_console().print(render_console(report))
    out_console().print(
        f"reports: {target_dir}/ report.html, report.md, report.json, report.xml, gameday.log", highlight=False
    )
    sys.exit(int(report.exit_code))


def _dry_run(experiment: Path) -> None:
    import tempfile

    from resilience.ctk.plan import plan_experiment

    try:
        with tempfile.TemporaryDirectory(prefix="resilience-plan-") as work:
            steps, problems = plan_experiment(experiment, Path(work))
    except UsageError as exc:
        _fail(str(exc), ExitCode.USAGE)
        return
    except ResilienceError as exc:
        _fail(str(exc), ExitCode.FAULT_OR_ABORT)
        return
    table = Table(title=f"dry run of {experiment} (nothing was touched)", title_justify="left")
    for col in ("step", "activity", "would do"):
        table.add_column(col, overflow="fold")
    for step in steps:
        table.add_row(step.where, step.name, "\n".join(step.plan))
    out_console().print(table)
    if problems:
        _fail("these steps cannot apply: " + "; ".join(problems), ExitCode.FAULT_OR_ABORT)


@cli.command()
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The platform's state directory [default: $RESILIENCE_STATE_DIR or .resilience/].",
)
def recover(state_dir: Path | None) -> None:
    """Roll back every fault a killed or crashed run left behind (from the fault ledger).

    Exit 0 when nothing is left active, 3 when something could not be rolled back.
    """
    from resilience.faults import Ledger
    from resilience.faults import recover as recover_all
    from resilience.faults.recover import platform_or_none

    sd = (state_dir or default_state_dir()).resolve()
    ledger = Ledger(sd / "ledger")
    if not ledger.active():
        err_console.print(f"no active fault in {ledger.directory}: nothing to recover")
        return
    results = recover_all(ledger, platform_or_none(sd))
    for r in results:
        mark = "[red]FAILED[/]" if r.error else "[green]rolled back[/]"
        err_console.print(f"{mark} {r.entry.kind.value} on {r.entry.target} (run pid {r.entry.run_pid})")
        for line in r.done:
            err_console.print(f"    {line}", highlight=False)
        if r.error:
            err_console.print(f"    error: {r.error}", highlight=False)
    if any(r.error for r in results):
        _fail(
            "some faults are still active; see above, fix, and run `resilience recover` again", ExitCode.FAULT_OR_ABORT
        )


@cli.group()
def platform() -> None:
    """Start, inspect and stop the local reference platform (processes as pods)."""


_state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the platform keeps its state and logs [default: $RESILIENCE_STATE_DIR or .resilience/].",
)


@platform.command()
@click.option("--regions", type=click.IntRange(1, 4), default=None, help="Regions, named a, b, ... [default: 1].")
@click.option("--replicas", type=click.IntRange(1, 8), default=None, help="Inference replicas per region [default: 2].")
@click.option("--pipeline", is_flag=True, help="Also run cameras -> preprocessing -> results sink.")
@click.option(
    "--netns",
    is_flag=True,
    help="Each region in its own network namespace (root): partitions and loss by packet filter.",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Platform config YAML (see reference_platform/platform.yaml).",
)
@_state_dir_option
def up(
    regions: int | None, replicas: int | None, pipeline: bool, netns: bool, config: Path | None, state_dir: Path | None
) -> None:
    """Start the platform and wait until every replica is ready."""
    sd = (state_dir or default_state_dir()).resolve()
    try:
        with err_console.status("starting the reference platform (Triton replicas, HAProxy gateway)..."):
            plat = lifecycle.up(sd, replicas=replicas, config=config, regions=regions, pipeline=pipeline, netns=netns)
    except UsageError as exc:
        _fail(str(exc), ExitCode.USAGE)
        return
    except PlatformError as exc:
        _fail(str(exc), ExitCode.FAULT_OR_ABORT)
        return
    _print_status(plat)


@platform.command()
@_state_dir_option
def status(state_dir: Path | None) -> None:
    """Show the platform's endpoints and pods."""
    plat = lifecycle.running((state_dir or default_state_dir()).resolve())
    if plat is None:
        err_console.print("the local platform is not running (start it with `resilience platform up`)")
        sys.exit(1)
    _print_status(plat)
    _print_active_faults(plat.state_dir)


def _print_active_faults(state_dir: Path) -> None:
    """Faults in the ledger: a run's own while it runs, or left behind by one that died (`recover` undoes them)."""
    import psutil

    from resilience.faults import Ledger

    for entry in Ledger(state_dir / "ledger").active():
        since = time.strftime("%H:%M:%S", time.localtime(entry.created_at))
        if psutil.pid_exists(entry.run_pid):
            err_console.print(
                f"fault active: {entry.kind.value} on {entry.target} since {since} (run pid {entry.run_pid})"
            )
        else:
            err_console.print(
                f"[bold red]fault left behind:[/] {entry.kind.value} on {entry.target} since {since}; its run "
                f"(pid {entry.run_pid}) is gone: run `resilience recover` to undo it",
                highlight=False,
            )


@platform.command()
@click.option("--slo", default="latency-p99", show_default=True, help="The catalogue's latency SLO to hold.")
@click.option(
    "--catalogue",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="SLO catalogue [default: $RESILIENCE_SLO_CATALOGUE or probes/slos.yaml].",
)
@click.option("--step-s", type=click.FloatRange(2, 60), default=5.0, show_default=True, help="Least seconds per rate.")
@_state_dir_option
def capacity(slo: str, catalogue: Path | None, step_s: float, state_dir: Path | None) -> None:
    """Measure the highest rate the running platform serves within a latency SLO, on this box, now.

    Open-loop Poisson load through the gateway climbs 50, 75, 100, 150, 200 ... req/s, at least `--step-s`
    seconds and 500 requests a rate, and stops at the first rate whose latency breaks the objective (or that loses requests); the
    result is kept for `platform status`. Run it before an experiment to learn whether this box can serve
    the experiment's rate at all.
    """
    from resilience.engine import capacity as cap
    from resilience.engine.catalogue import find_catalogue, load_catalogue
    from resilience.load import DEFAULT_INPUT, DEFAULT_PAYLOAD
    from resilience.model import SLIKind

    sd = (state_dir or default_state_dir()).resolve()
    plat = lifecycle.running(sd)
    if plat is None:
        _fail("the local platform is not running; start it with `resilience platform up`", ExitCode.USAGE)
        return
    try:
        path = catalogue or find_catalogue(configured=None)
        spec = load_catalogue(path).get(slo)
    except ResilienceError as exc:
        _fail(str(exc), ExitCode.USAGE)
        return
    if spec is None or spec.sli is not SLIKind.LATENCY or spec.percentile is None:
        _fail(f"--slo {slo}: not a latency SLO in {path}; name one with a percentile, e.g. latency-p99", ExitCode.USAGE)
        return

    def show(step: Any) -> None:
        held = "[green]holds[/]" if step.holds else "[red]breaks[/]"
        err_console.print(
            f"{step.rate:6.0f} req/s: p{spec.percentile:g} {step.latency_ms} ms, {step.failed} failed of "
            f"{step.requests}, sent {step.achieved_rps} req/s -> {held}",
            highlight=False,
        )

    err_console.print(f"climbing until p{spec.percentile:g} > {spec.objective:g} ms ({slo}, {path})", highlight=False)
    with tempfile.TemporaryDirectory(prefix="rs-capacity-") as tmp:
        try:
            result = cap.measure_capacity(
                target=plat.gateway_http,
                model=plat.model,
                input_name=DEFAULT_INPUT,
                payload=DEFAULT_PAYLOAD,
                percentile=spec.percentile,
                objective_ms=spec.objective,
                work_dir=Path(tmp),
                step_s=step_s,
                on_step=show,
                platform_id=plat.state.get("platform_id"),
            )
        except ResilienceError as exc:
            _fail(str(exc), ExitCode.FAULT_OR_ABORT)
            return
    cap.save(sd, result)
    click.echo(_capacity_line(result))


def _capacity_line(result: Capacity) -> str:
    p = f"p{result.percentile:g} <= {result.objective_ms:g} ms"
    if result.held_rps is None:
        return f"capacity: this box did not hold {p} even at {result.steps[0].rate:g} req/s"
    broke = f"; broke at {result.breached_rps:g} req/s" if result.breached_rps else " (every rate tried held)"
    return f"capacity: holds {p} up to {result.held_rps:g} req/s through the gateway on this box{broke}"


@platform.command()
@_state_dir_option
def down(state_dir: Path | None) -> None:
    """Stop the platform; nothing of it (tritonserver included) is left running."""
    from resilience.faults import Ledger
    from resilience.faults import recover as recover_all
    from resilience.faults.recover import platform_or_none

    sd = (state_dir or default_state_dir()).resolve()
    ledger = Ledger(sd / "ledger")
    if ledger.active():  # a fault must not outlive its platform either (proxies, burners, packet filters)
        for r in recover_all(ledger, platform_or_none(sd)):
            err_console.print(
                f"rolled back {r.entry.kind.value} on {r.entry.target}" + (f": {r.error}" if r.error else "")
            )
    was_running = lifecycle.running(sd) is not None
    with err_console.status("stopping the reference platform..."):
        swept = lifecycle.down(sd)
    msg = f" (killed {len(swept)} leftover process(es))" if swept else ""
    if was_running or swept:
        err_console.print(f"platform stopped{msg}")
    else:
        err_console.print(f"no platform was running in {sd}: nothing to stop")


@platform.command()
@click.option(
    "--strategy",
    type=click.Choice(["canary", "blue-green", "shadow"]),
    default="canary",
    show_default=True,
    help="canary: a weighted share, rolled back automatically; blue-green: a full new set, one switch; "
    "shadow: mirror the pipeline's frames to the new version and compare (needs --pipeline).",
)
@click.option("--version", "version", type=click.IntRange(1), help="Model version to roll out (from the repository).")
@click.option(
    "--weight",
    type=click.IntRange(1, 50),
    default=10,
    show_default=True,
    help="Percent of each region's traffic for the canary.",
)
@click.option(
    "--max-error-ratio",
    type=float,
    default=0.01,
    show_default=True,
    help="Roll back when the canary's failure ratio exceeds this.",
)
@click.option(
    "--max-latency-ratio",
    type=float,
    default=2.0,
    show_default=True,
    help="Roll back when the canary is this many times slower than the stable replicas.",
)
@click.option("--promote", is_flag=True, help="Promote the running canary: rolling update of every replica.")
@click.option("--abort", is_flag=True, help="Abort the running canary and remove it.")
@_state_dir_option
def deploy(
    strategy: str,
    version: int | None,
    weight: int,
    max_error_ratio: float,
    max_latency_ratio: float,
    promote: bool,
    abort: bool,
    state_dir: Path | None,
) -> None:
    """Roll out a model version (canary or blue-green, rolled back automatically), or promote/abort it."""
    plat = lifecycle.running((state_dir or default_state_dir()).resolve())
    if plat is None:
        _fail("the local platform is not running (start it with `resilience platform up`)", ExitCode.USAGE)
        return
    try:
        if promote or abort:
            with err_console.status("promoting (rolling update)..." if promote else "aborting..."):
                state = plat.rollout("promote" if promote else "abort")
        elif version is None:
            _fail("--version is required to start a rollout (or use --promote / --abort)", ExitCode.USAGE)
            return
        else:
            state = plat.rollout(
                "",
                {
                    "strategy": strategy,
                    "version": version,
                    "weight": weight,
                    "max_error_ratio": max_error_ratio,
                    "max_latency_ratio": max_latency_ratio,
                },
            )
    except UsageError as exc:
        _fail(str(exc), ExitCode.USAGE)
        return
    err_console.print(
        f"rollout {state['strategy']} v{state['policy']['version']}: {state['state']}"
        + (f" ({state['reason']})" if state.get("reason") else ""),
        highlight=False,
    )


@platform.command()
@_state_dir_option
def rollout(state_dir: Path | None) -> None:
    """Show the current rollout: state, reason, and what the gateway saw of each canary."""
    plat = lifecycle.running((state_dir or default_state_dir()).resolve())
    if plat is None:
        _fail("the local platform is not running", ExitCode.USAGE)
        return
    state = plat.rollout()
    if state.get("state") == "none":
        err_console.print("no rollout")
        return
    err_console.print(
        f"{state['strategy']} v{state['policy']['version']} at {state['policy']['weight']}%: "
        f"{state['state']} {state.get('reason') or ''}",
        highlight=False,
    )
    for name, c in state.get("canary", {}).items():
        err_console.print(
            f"  {name}: {c['requests']} requests, {c['failures']} failures, "
            f"{c['rtime_ms']:.0f} ms vs stable {c['stable_rtime_ms']:.1f} ms",
            highlight=False,
        )


def _print_status(plat: LocalPlatform) -> None:
    table = Table(
        title=f"reference platform — gateway http {plat.gateway_http}, grpc {plat.state['gateway']['grpc']}",
        title_justify="left",
    )
    for col in ("region", "pod", "role", "model", "pid", "ready", "server p99", "restarts", "last exit"):
        table.add_column(col)
    for p in plat.pods_with_latency():
        last = p.last_exit["reason"] if p.last_exit else "-"
        table.add_row(
            p.region,
            p.name,
            p.role,
            f"v{p.model_version}" if p.model_version else "-",
            str(p.pid or "-"),
            "yes" if p.ready else "[red]no[/]",
            f"{p.server_p99_ms:.1f} ms" if p.server_p99_ms is not None else "-",
            str(p.restarts),
            last,
        )
    out_console().print(table)
    from resilience.engine import capacity

    measured = capacity.last(plat.state_dir, plat.state.get("platform_id"))
    click.echo(
        _capacity_line(measured)
        if measured
        else "capacity: not measured yet (`resilience platform capacity` finds the highest rate within the SLO)"
    )


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except ResilienceError as exc:  # a path we did not map above: still no traceback for the user
        _fail(str(exc), ExitCode.FAULT_OR_ABORT)
