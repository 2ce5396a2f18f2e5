"""`resilience platform ...` (start, inspect, measure, roll out to and stop the local reference platform) and
`resilience recover` (undo what a killed run left behind)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from resilience.cli.common import err_console, exit_codes, fail, print_status, state_dir_of, state_dir_option
from resilience.errors import ResilienceError
from resilience.model import ExitCode
from resilience.report import capacity_line
from resilience.targets import RolloutState, lifecycle


@click.command()
@state_dir_option
def recover(state_dir: Path | None) -> None:
    """Roll back every fault a killed or crashed run left behind (from the fault ledger).

    Exit 0 when nothing is left active, 3 when something could not be rolled back.
    """
    from resilience.faults import Ledger
    from resilience.faults import recover as recover_all

    sd = state_dir_of(state_dir)
    ledger = Ledger(sd / "ledger")
    if not ledger.active():
        err_console.print(f"no active fault in {ledger.directory}: nothing to recover")
        return
    results = recover_all(ledger, lifecycle.recorded(sd))
    for r in results:
        mark = "[red]FAILED[/]" if r.error else "[green]rolled back[/]"
        err_console.print(f"{mark} {r.entry.kind.value} on {r.entry.target} (run pid {r.entry.run_pid})")
        for line in r.done:
            err_console.print(f"    {line}", highlight=False)
        if r.error:
            err_console.print(f"    error: {r.error}", highlight=False)
    if any(r.error for r in results):
        fail(
            "some faults are still active; see above, fix, and run `resilience recover` again", ExitCode.FAULT_OR_ABORT
        )


@click.group()
def platform() -> None:
    """Start, inspect and stop the local reference platform (processes as pods)."""


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
@state_dir_option
def up(
    regions: int | None, replicas: int | None, pipeline: bool, netns: bool, config: Path | None, state_dir: Path | None
) -> None:
    """Start the platform and wait until every replica is ready."""
    sd = state_dir_of(state_dir)
    with exit_codes(), err_console.status("starting the reference platform (Triton replicas, HAProxy gateway)..."):
        plat = lifecycle.up(sd, replicas=replicas, config=config, regions=regions, pipeline=pipeline, netns=netns)
    print_status(plat)


@platform.command()
@state_dir_option
def status(state_dir: Path | None) -> None:
    """Show the platform's endpoints and pods."""
    plat = lifecycle.running(state_dir_of(state_dir))
    if plat is None:
        err_console.print("the local platform is not running (start it with `resilience platform up`)")
        sys.exit(1)
    print_status(plat)
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
@state_dir_option
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

    sd = state_dir_of(state_dir)
    plat = lifecycle.running(sd)
    if plat is None:
        fail("the local platform is not running; start it with `resilience platform up`", ExitCode.USAGE)
    try:
        path = catalogue or find_catalogue(configured=None)
        spec = load_catalogue(path).get(slo)
    except ResilienceError as exc:
        fail(str(exc), ExitCode.USAGE)
    if spec is None or spec.sli is not SLIKind.LATENCY or spec.percentile is None:
        fail(f"--slo {slo}: not a latency SLO in {path}; name one with a percentile, e.g. latency-p99", ExitCode.USAGE)

    def show(step: Any) -> None:
        held = "[green]holds[/]" if step.holds else "[red]breaks[/]"
        err_console.print(
            f"{step.rate:6.0f} req/s: p{spec.percentile:g} {step.latency_ms} ms, {step.failed} failed of "
            f"{step.requests}, sent {step.achieved_rps} req/s -> {held}",
            highlight=False,
        )

    err_console.print(f"climbing until p{spec.percentile:g} > {spec.objective:g} ms ({slo}, {path})", highlight=False)
    with exit_codes("interrupted; no capacity saved"), tempfile.TemporaryDirectory(prefix="rs-capacity-") as tmp:
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
    cap.save(sd, result)
    click.echo(capacity_line(result))


@platform.command()
@state_dir_option
def down(state_dir: Path | None) -> None:
    """Stop the platform; nothing of it (tritonserver included) is left running."""
    from resilience.faults import Ledger
    from resilience.faults import recover as recover_all

    sd = state_dir_of(state_dir)
    ledger = Ledger(sd / "ledger")
    if ledger.active():  # a fault must not outlive its platform either (proxies, burners, packet filters)
        for r in recover_all(ledger, lifecycle.recorded(sd)):
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
@state_dir_option
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
    plat = lifecycle.running(state_dir_of(state_dir))
    if plat is None:
        fail("the local platform is not running (start it with `resilience platform up`)", ExitCode.USAGE)
    if not (promote or abort) and version is None:
        fail("--version is required to start a rollout (or use --promote / --abort)", ExitCode.USAGE)
    with exit_codes():
        if promote or abort:
            with err_console.status("promoting (rolling update)..." if promote else "aborting..."):
                state = plat.rollout("promote" if promote else "abort")
        else:
            policy: dict[str, object] = {"strategy": strategy, "version": version, "weight": weight}
            policy |= {"max_error_ratio": max_error_ratio, "max_latency_ratio": max_latency_ratio}
            state = plat.rollout("", policy)
    err_console.print(
        f"rollout {state['strategy']} v{state['policy']['version']}: {state['state']}"
        + (f" ({state['reason']})" if state.get("reason") else ""),
        highlight=False,
    )


@platform.command()
@state_dir_option
def rollout(state_dir: Path | None) -> None:
    """Show the current rollout: state, reason, and what the gateway saw of each canary."""
    plat = lifecycle.running(state_dir_of(state_dir))
    if plat is None:
        fail("the local platform is not running", ExitCode.USAGE)
    state = plat.rollout()
    if state.get("state") == RolloutState.NONE:
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
