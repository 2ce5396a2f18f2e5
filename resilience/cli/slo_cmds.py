"""`resilience slo export`: the SLO catalogue the verdicts use, as Prometheus burn-rate alerts for the cluster."""

from __future__ import annotations

from pathlib import Path

import click

from resilience.cli.common import err_console, exit_codes


@click.group()
def slo() -> None:
    """The SLO catalogue (OpenSLO) outside a run."""


@slo.command()
@click.option(
    "--catalogue",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="SLO catalogue [default: $RESILIENCE_SLO_CATALOGUE or probes/slos.yaml].",
)
@click.option(
    "--prometheus-rules",
    "fmt",
    flag_value="prometheusrule",
    default=True,
    help="A Prometheus Operator PrometheusRule resource (the default).",
)
@click.option("--rule-groups", "fmt", flag_value="rules", help="A plain rule-groups file (rule_files, promtool).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write here instead of stdout.")
def export(catalogue: Path | None, fmt: str, output: Path | None) -> None:
    """Export the catalogue as multiwindow, multi-burn-rate alerts (Google SRE Workbook) on the platform's metrics.

    Objectives, targets and names come from the catalogue; what cannot be alerted on from the metrics the
    deployed platform exports is said in the file's header.
    """
    from resilience.engine.catalogue import find_catalogue
    from resilience.engine.prometheus_rules import RuleFormat, render_catalogue

    with exit_codes():
        path = catalogue or find_catalogue(configured=None)
        shown = path.resolve().relative_to(Path.cwd()) if path.resolve().is_relative_to(Path.cwd()) else path
        text = render_catalogue(path, RuleFormat(fmt), source=str(shown))
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text)
    err_console.print(f"wrote {output} from {path}", highlight=False)
