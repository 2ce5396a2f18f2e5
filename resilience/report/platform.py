"""Tables for the platform commands and the dry run: the pods, the measured capacity, an experiment's plan."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from resilience.model.capacity import Capacity
from resilience.targets import LocalPlatform


def capacity_line(result: Capacity | None) -> str:
    if result is None:
        return "capacity: not measured yet (`resilience platform capacity` finds the highest rate within the SLO)"
    p = f"p{result.percentile:g} <= {result.objective_ms:g} ms"
    if result.held_rps is None:
        return f"capacity: this box did not hold {p} even at {result.steps[0].rate:g} req/s"
    broke = f"; broke at {result.breached_rps:g} req/s" if result.breached_rps else " (every rate tried held)"
    return f"capacity: holds {p} up to {result.held_rps:g} req/s through the gateway on this box{broke}"


def render_status(plat: LocalPlatform, measured: Capacity | None) -> RenderableType:
    """The pods (with each replica's server-side p99) and the last measured capacity."""
    table = Table(
        title=f"reference platform — gateway http {plat.gateway_http}, grpc {plat.state['gateway']['grpc']}",
        title_justify="left",
    )
    for col in ("region", "pod", "role", "model", "pid", "ready", "server p99", "restarts", "last exit"):
        table.add_column(col)
    for p in plat.pods_with_latency():
        table.add_row(
            p.region,
            p.name,
            p.role,
            f"v{p.model_version}" if p.model_version else "-",
            str(p.pid or "-"),
            "yes" if p.ready else "[red]no[/]",
            f"{p.server_p99_ms:.1f} ms" if p.server_p99_ms is not None else "-",
            str(p.restarts),
            p.last_exit.reason if p.last_exit else "-",
        )
    return Group(table, Text(capacity_line(measured)))


def render_plan(experiment: Path, steps: Sequence[tuple[str, str, Sequence[str]]]) -> Table:
    """`run --dry-run`: each step (where, activity, what it would do)."""
    table = Table(title=f"dry run of {experiment} (nothing was touched)", title_justify="left")
    for col in ("step", "activity", "would do"):
        table.add_column(col, overflow="fold")
    for where, name, plan in steps:
        table.add_row(where, name, "\n".join(plan))
    return table
