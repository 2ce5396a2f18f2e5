"""`resilience load worker`: a machine's share of a distributed run's load (Locust's worker, our scheduler)."""

from __future__ import annotations

import os
import sys

import click

from resilience.cli.common import exit_codes
from resilience.errors import UsageError


@click.group()
def load() -> None:
    """The load generator outside a run."""


@load.command()
@click.option("--master", "master", required=True, metavar="HOST:PORT", help="The run's Locust master (`master_port`).")
def worker(master: str) -> None:
    """Join a run whose load control has `remote_workers`: send this machine's share of its open-loop schedule.

    The master hands the worker the run's settings (target, rate, payload path, schedule origin); the clocks
    of the machines must agree (NTP), and the payload must exist at the same path here.
    """
    from resilience.load.workers import worker_command

    with exit_codes():
        host, _, port = master.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--master: {master!r} is not HOST:PORT (the master's `master_port`)")
    cmd = worker_command([], host, int(port))
    os.execv(sys.executable, cmd)  # Locust itself, as this process: Ctrl-C and signals reach it directly
