"""What every command shares: the consoles, logging, the exit-code contract, and the local platform's lifetime."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console
from rich.logging import RichHandler

from resilience.errors import ResilienceError, UsageError
from resilience.model import ExitCode
from resilience.report import render_status
from resilience.targets import LocalPlatform, default_state_dir, lifecycle

if TYPE_CHECKING:
    from resilience.cli.progress import RunProgress

err_console = Console(stderr=True, soft_wrap=True)  # long lines stay whole when piped or grepped


def out_console() -> Console:
    """stdout for tables: a terminal's own width; piped (a CI log, a file) wide enough that no cell is cut."""
    console = Console()
    return console if console.is_terminal or "COLUMNS" in os.environ else Console(width=160)


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = RichHandler(console=err_console, show_path=False, markup=False, rich_tracebacks=False)
    logging.basicConfig(level=level, format="%(message)s", datefmt="%H:%M:%S", handlers=[handler], force=True)
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # chaoslib logs through "chaostoolkit"; keep its INFO lines, they narrate the experiment.
    logging.getLogger("chaostoolkit").setLevel(level)
    # we ask for rollbacks "always" on purpose (a fault never outlives its run): not a warning to the user
    handler.addFilter(lambda record: "Rollbacks were explicitly requested" not in record.getMessage())


def fail(message: str, code: ExitCode) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(int(code))


@contextlib.contextmanager
def exit_codes(interrupted: str = "interrupted") -> Iterator[None]:
    """The one mapping of what a command can raise to the exit-code contract: bad input 2; interrupt, a fault
    that could not be applied, a platform that would not start 3."""
    try:
        yield
    except UsageError as exc:
        fail(str(exc), ExitCode.USAGE)
    except KeyboardInterrupt:
        fail(interrupted, ExitCode.FAULT_OR_ABORT)
    except ResilienceError as exc:
        fail(str(exc), ExitCode.FAULT_OR_ABORT)


def print_status(plat: LocalPlatform) -> None:
    from resilience.engine import capacity

    out_console().print(render_status(plat, capacity.last(plat.state_dir, plat.state.get("platform_id"))))


def state_dir_of(state_dir: Path | None) -> Path:
    return (state_dir or default_state_dir()).resolve()


state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the platform keeps its state and logs [default: $RESILIENCE_STATE_DIR or .resilience/].",
)


@contextlib.contextmanager
def local_platform(enabled: bool, bar: RunProgress | None = None, show: bool = False, **up_args: Any) -> Iterator[None]:
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
                print_status(plat)
        yield
    finally:
        if started_here:
            with err_console.status("stopping the reference platform..."):
                lifecycle.down(state_dir)
