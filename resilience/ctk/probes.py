"""Chaos Toolkit probes: SLOs from the catalogue, evaluated from the live measurements."""

from __future__ import annotations

import logging
import time
from typing import Any

from chaoslib.exceptions import ActivityFailed

from resilience.engine import session
from resilience.engine.catalogue import find_catalogue, load_catalogue
from resilience.errors import ResilienceError
from resilience.model import SLOResult
from resilience.slo import evaluate, window

__all__ = ["prediction_drift_below", "slo_burn_rate", "slo_met", "slo_value"]

# A child of chaoslib's logger, so that `chaos run` shows these lines too (it only configures "chaostoolkit").
log = logging.getLogger("chaostoolkit.resilience")


def _evaluate(slo: str, window_s: float | None, configuration: dict[str, Any] | None, label: str) -> SLOResult:
    """Evaluate catalogue SLO `slo` over the most recent window of the current phase (see `slo_met`)."""
    run = session.current()
    if run.measured.load is None or not run.measured.load.running:
        raise ActivityFailed("no load is running: add the resilience load control to the experiment's controls")
    try:
        if run.plan.catalogue is None:
            configured = (configuration or {}).get("slo_catalogue")
            run.plan.catalogue = load_catalogue(find_catalogue(run.plan.experiment_path, configured))
        spec = run.plan.catalogue.get(slo)
        if spec is None:
            raise ActivityFailed(f"unknown SLO {slo!r}; the catalogue has {sorted(run.plan.catalogue)}")
        window_s = window_s or spec.window_s or 5.0
        end = max(time.time(), (run.timeline.phase_started or time.time()) + window_s)
        start = end - window_s
        slices = window(run.measured.load.wait_until(end), start, end)
    except ResilienceError as exc:
        raise ActivityFailed(str(exc)) from exc
    result = evaluate(spec, slices)
    run.measured.probe_results.append((f"{slo} @ +{start - run.timeline.started_at:.1f}s", result))
    log.info(
        "SLO %s over %.1f s: %s measured %s (%d samples) -> %s [%s]",
        slo,
        window_s,
        result.objective,
        result.measured_text,
        result.samples,
        result.verdict.value,
        label,
    )
    return result


def slo_met(slo: str, window_s: float | None = None, configuration: dict[str, Any] | None = None) -> bool:
    """Say whether SLO `slo` held over the most recent `window_s` seconds of load (default: the SLO's window, else 5 s).

    The window never reaches back before the current phase began (the end of the warm-up for the
    baseline, the end of the method for the check after it): the probe waits until it has `window_s`
    seconds of the phase measured. Probes of one hypothesis therefore share one window. A steady-state
    check judges the point estimate (a 5 s window cannot support 99.9% at 99% confidence); the run's
    own verdict is where confidence is required.

    `slo` names an entry of the SLO catalogue (probes/slos.yaml). Every request in the window counts
    (open-loop load, latency from the intended send time, percentiles from merged HDR histograms).
    Use with `tolerance: true`. Fails if no load is running (add the `load` control).
    """
    return _evaluate(slo, window_s, configuration, "slo_met").verdict.value == "pass"


def slo_value(slo: str, window_s: float | None = None, configuration: dict[str, Any] | None = None) -> float:
    """The SLI of `slo` over the most recent window: the success ratio, or the percentile in ms.

    For a standard range tolerance, e.g. `{type: range, range: [0, 15]}` for a p99 in ms or
    `{type: range, range: [0.999, 1.0]}` for availability. -1 when the window had no requests.
    """
    measured = _evaluate(slo, window_s, configuration, "slo_value").measured
    return -1.0 if measured is None else float(measured)


def slo_burn_rate(slo: str, window_s: float | None = None, configuration: dict[str, Any] | None = None) -> float:
    """How fast `slo`'s error budget burned over the most recent window (1 = exactly on budget, 14.4 pages).

    For a range tolerance, e.g. `{type: range, range: [0, 1]}`: the steady state spends no faster than
    the SLO allows. Fails (the probe, so the hypothesis) when the window has nothing to judge, e.g. no
    successful request for a latency SLO: no data is never "within budget".
    """
    result = _evaluate(slo, window_s, configuration, "slo_burn_rate")
    if result.burn_rate is None:  # nothing to divide: during a total outage a latency SLO has no success to judge
        raise ActivityFailed(f"no burn rate for {slo}: {result.detail} (a total outage?)")
    return float(result.burn_rate)


def prediction_drift_below(max_psi: float = 0.2) -> bool:
    """Say whether the pipeline's prediction drift (PSI of p(defect), recent vs reference window) is
    below `max_psi` (0.1 = no real change, 0.25 = a significant shift, by the usual reading).

    Reads the results sink of the reference platform's pipeline (`resilience platform up --pipeline`).
    Fails while the drift windows are still filling. Use with `tolerance: true`.
    """
    try:
        value = session.current().platform().stage_metrics("sink").get("pipeline_sink_prediction_psi", -1.0)
    except ResilienceError as exc:
        raise ActivityFailed(str(exc)) from exc
    if value < 0:
        raise ActivityFailed("the drift monitor has not filled its reference and comparison windows yet")
    log.info("prediction drift PSI %.3f (threshold %.3f)", value, max_psi)
    return value < max_psi
