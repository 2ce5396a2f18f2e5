"""The `load` control: open-loop load from before the steady-state hypothesis until after the rollbacks.

Declare it in an experiment's `controls` (arguments are `resilience.load.LoadSpec` fields, plus
`slos`: the catalogue SLOs judged over the whole run, and `target`/`payload` to override where the
load goes and what it sends):

    controls:
      - name: load
        provider:
          type: python
          module: resilience.ctk.controls
          arguments: {rate: 100, arrival: poisson, slos: [availability, latency-p99]}
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from chaoslib.exceptions import InterruptExecution

from resilience.engine import session
from resilience.engine.catalogue import find_catalogue, load_catalogue
from resilience.engine.operator import interrupt_method
from resilience.errors import LoadError, ResilienceError
from resilience.load import DEFAULT_INPUT, DEFAULT_PAYLOAD, LoadSpec, generator_for
from resilience.model import StopCondition
from resilience.slo import evaluate_all, window
from resilience.slo.stop import tripped

# A child of chaoslib's logger, so that `chaos run` shows these lines too (it only configures "chaostoolkit").
log = logging.getLogger("chaostoolkit.resilience")

_NOT_LOAD_ARGS = {"slos", "target", "payload", "model", "input_name", "stop_when"}


def before_experiment_control(
    context: dict[str, Any], configuration: dict[str, Any] | None = None, **arguments: Any
) -> None:
    run = session.open_for_chaos_run()  # the engine's session under `resilience run`; a new one under `chaos run`
    try:
        spec = LoadSpec.model_validate(
            {k: v for k, v in arguments.items() if k not in _NOT_LOAD_ARGS} | run.plan.load_overrides
        )
        run.plan.run_slos = list(arguments.get("slos", []))
        run.plan.stop_conditions = [StopCondition.model_validate(c) for c in arguments.get("stop_when", [])]
        if run.plan.catalogue is None:
            configured = (configuration or {}).get("slo_catalogue")
            run.plan.catalogue = load_catalogue(find_catalogue(run.plan.experiment_path, configured))
        platform = run.platform(_state_dir(configuration))
        endpoint = arguments.get("target") or (
            platform.gateway_grpc if spec.protocol == "grpc" else platform.gateway_http
        )
        if not endpoint:
            raise LoadError(
                "the target names no inference endpoint to send load to: give `--gateway HOST:PORT` (a port-forward "
                "or ingress of the platform's gateway) or the load control's `target` argument"
            )
        generator = generator_for(
            spec,
            target=endpoint,
            payload=Path(arguments.get("payload") or DEFAULT_PAYLOAD),
            model=arguments.get("model") or platform.model,
            input_name=arguments.get("input_name", DEFAULT_INPUT),
            log_path=run.plan.work_dir / "locust.log",
        )
        run.measured.load, run.plan.load_spec = generator, spec
        run.timeline.step, run.timeline.step_started, run.timeline.step_expected_s = (
            "load warm-up",
            time.time(),
            spec.warmup_s + 1.0,
        )
        generator.start()
        run.timeline.step = run.timeline.step_started = run.timeline.step_expected_s = None
        run.measured.measure_from = run.timeline.phase_started = time.time()
        run.sampler = threading.Event()
        threading.Thread(target=run.sample_readiness, args=(run.sampler,), name="readiness", daemon=True).start()
    except ResilienceError as exc:
        log.error("load control: %s", exc)
        run.outcome.errors.append(f"the load could not start: {exc}")
        raise InterruptExecution(f"load could not start: {exc}") from exc
    except Exception as exc:  # chaoslib would log anything else at debug level and run on without load
        log.exception("load control: unexpected error")
        run.outcome.errors.append(f"the load control raised {type(exc).__name__}: {exc}")
        raise InterruptExecution(f"load could not start: {type(exc).__name__}: {exc}") from exc


def before_method_control(context: dict[str, Any], **arguments: Any) -> None:
    """Arm the stop conditions: from here until the method ends, they are checked slice by slice."""
    run = session.current()
    if run.plan.stop_conditions and run.measured.load is not None and run.plan.catalogue is not None:
        run.watcher = threading.Event()
        threading.Thread(target=_watch, args=(run, run.watcher), name="stop-conditions", daemon=True).start()


def after_method_control(context: dict[str, Any], state: Any = None, **arguments: Any) -> None:
    """The check after the method measures only what came after it; stop conditions are disarmed."""
    run = session.current()
    if run.watcher is not None:
        run.watcher.set()
    run.timeline.phase_started = time.time()


def _watch(run: session.RunSession, done: threading.Event) -> None:
    """Check every stop condition as slices arrive; on the first one that holds, abort the method gracefully."""
    assert run.measured.load is not None and run.plan.catalogue is not None
    period = run.plan.load_spec.slice_s if run.plan.load_spec else 0.25
    while not done.wait(period):
        slices = window(run.measured.load.slices(), run.measured.measure_from)
        for condition in run.plan.stop_conditions:
            why = tripped(condition, run.plan.catalogue[condition.slo], slices)
            if why and not done.is_set():
                run.outcome.stopped_by = why
                log.warning("stop condition: %s; aborting the method and rolling back", why)
                # SIGUSR1 to this process: chaoslib interrupts the running activity and plays the rollbacks
                interrupt_method(run)
                return


def after_experiment_control(context: dict[str, Any], state: dict[str, Any] | None = None, **arguments: Any) -> None:
    run = session.current()
    if run.watcher is not None:
        run.watcher.set()
    if run.sampler is not None:
        run.sampler.set()
    run.stop_load()
    if run.measured.load is None or run.plan.catalogue is None:
        return
    slices = window(run.measured.load.slices(), run.measured.measure_from, run.measured.measure_to)
    specs = [run.plan.catalogue[n] for n in run.plan.run_slos if n in run.plan.catalogue]
    for result in evaluate_all(specs, slices, [f.injected_at for f in run.book.faults], judge_confidence=True):
        log.info(
            "run SLO %s: %s measured %s over %d samples -> %s",
            result.name,
            result.objective,
            result.measured_text,
            result.samples,
            result.verdict.value.upper(),
        )


def _state_dir(configuration: dict[str, Any] | None) -> Path | None:
    value = (configuration or {}).get("platform_state_dir")
    return Path(value).resolve() if value else None
