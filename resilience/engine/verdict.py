"""Turn a chaoslib journal and the run's measurements into one verdict and exit code.

Stricter than `chaos run` on purpose: a baseline that already fails, a deviation during the method
that recovered, a fault that raised or left no evidence, and an SLO without enough samples all keep
the exit code from being 0.
"""

from __future__ import annotations

from typing import Any

from resilience.engine.session import RunSession
from resilience.model import (
    ExitCode,
    HypothesisCheck,
    LoadSummary,
    RunReport,
    RunStatus,
    SLOResult,
    TimePoint,
    Verdict,
)


def hypothesis_checks(journal: dict[str, Any]) -> list[HypothesisCheck]:
    states = journal.get("steady_states") or {}
    checks = []
    for phase in ("before", "during", "after"):
        entries = states.get(phase)
        for entry in entries if isinstance(entries, list) else [entries] if entries else []:
            probes = tuple(
                (p.get("activity", {}).get("name", "?"), bool(p.get("tolerance_met")))
                for p in entry.get("probes") or []
            )
            checks.append(HypothesisCheck(phase, bool(entry.get("steady_state_met")), probes))
    return checks


def _baseline_reasons(failed: str, run: RunSession) -> list[str]:
    """Why the baseline failed, what this box measured, and what to try next."""
    reasons = [f"the steady state already failed before any fault ({failed}); the method was not run"]
    missed = [(label, r) for label, r in run.probe_results if r.verdict is Verdict.FAIL]
    for label, result in missed:
        reasons.append(
            f"baseline measured {label.split(' @ ')[0]}: {result.measured_text} against {result.objective} "
            f"over {result.samples} requests"
        )
    rate = run.load_spec.rate if run.load_spec else None
    at = f" at {rate:g} req/s" if rate else ""
    reasons.append(
        f"the platform did not meet its SLOs{at} before any fault: if this box is slow or busy, measure what it "
        "serves with `resilience platform capacity`, then lower the load's rate or stop other busy processes"
    )
    return reasons


def decide(
    journal: dict[str, Any], run: RunSession, slos: list[SLOResult], checks: list[HypothesisCheck]
) -> tuple[RunStatus, ExitCode, list[str]]:
    """Return (status, exit code, reasons). Precedence: abort, baseline, fault, deviation, SLOs."""
    reasons: list[str] = []
    if run.aborted_by:  # a game day's operator pulled the plug: nothing was judged to the end
        reasons.append(f"{run.aborted_by}; rollbacks ran")
        return RunStatus.ABORTED, ExitCode.FAULT_OR_ABORT, reasons
    if run.stopped_by:  # the SLO burned too fast while the fault was on: a failed release, not a broken tool
        reasons.append(f"a stop condition aborted the method ({run.stopped_by}); rollbacks ran")
        return RunStatus.ABORTED, ExitCode.SLO_FAILED, reasons
    if journal.get("status") in ("interrupted", "aborted"):
        reasons.append(f"the run was {journal.get('status')}")
        return RunStatus.ABORTED, ExitCode.FAULT_OR_ABORT, reasons
    for entry in journal.get("run") or []:
        # chaoslib turns SIGTERM into InterruptExecution inside the running activity and reports the activity
        # as failed, the run as completed: it was an abort (its rollbacks ran)
        text = "".join(entry.get("exception") or [])
        if "InterruptExecution" in text or "KeyboardInterrupt" in text:
            why = text.strip().rsplit(":", 1)[-1].strip() or "interrupted"
            reasons.append(f"the run was interrupted during {entry['activity'].get('name')!r} ({why}); rollbacks ran")
            return RunStatus.ABORTED, ExitCode.FAULT_OR_ABORT, reasons
    before = [c for c in checks if c.phase == "before"]
    if before and not before[0].met:
        failed = ", ".join(name for name, ok in before[0].probes if not ok)
        return RunStatus.BASELINE_FAILED, ExitCode.SLO_FAILED, _baseline_reasons(failed, run)
    for entry in journal.get("run") or []:
        if entry.get("status") != "succeeded" and entry.get("activity", {}).get("type") == "action":
            reasons.append(
                f"action {entry['activity'].get('name')!r} failed: {(entry.get('exception') or ['?'])[-1].strip()}"
            )
    reasons += [f"the operator skipped {step!r}: its fault was not tested" for step in run.skipped]
    for fault in run.faults:
        if not fault.landed:
            reasons.append(f"fault {fault.kind.value} on {fault.target} has no evidence it landed: {fault.error}")
    for entry in journal.get("rollbacks") or []:
        if entry.get("status") != "succeeded":
            reasons.append(f"rollback {entry.get('activity', {}).get('name')!r} failed")
    reasons += [f"could not roll back {what}; run `resilience recover`" for what in run.rollback_failures]
    if reasons:
        return RunStatus.FAULT_FAILED, ExitCode.FAULT_OR_ABORT, reasons
    for check in checks:
        if check.phase != "before" and not check.met:
            failed = ", ".join(name for name, ok in check.probes if not ok)
            reasons.append(f"the steady state deviated {check.phase} the method ({failed})")
    status = RunStatus.DEVIATED if reasons else RunStatus.COMPLETED
    for r in slos:
        if r.verdict is Verdict.FAIL:
            reasons.append(f"SLO {r.name} failed: {r.measured_text} vs {r.objective} ({r.detail})")
        elif r.verdict is not Verdict.PASS:
            reasons.append(f"SLO {r.name} is {r.verdict.value}: {r.detail}")
    return status, (ExitCode.SLO_FAILED if reasons else ExitCode.OK), reasons


def assemble(
    journal: dict[str, Any],
    run: RunSession,
    slos: list[SLOResult],
    load: LoadSummary | None,
    environment: dict[str, Any],
    timeline: tuple[TimePoint, ...] = (),
) -> RunReport:
    checks = hypothesis_checks(journal)
    status, code, reasons = decide(journal, run, slos, checks)
    verdict = {ExitCode.OK: Verdict.PASS, ExitCode.SLO_FAILED: Verdict.FAIL}.get(code, Verdict.ERROR)
    experiment = journal.get("experiment") or {}
    return RunReport(
        title=experiment.get("title", "?"),
        experiment_path=str(run.experiment_path or ""),
        started_at=run.started_at,
        ended_at=run.measure_to or run.started_at,
        status=status,
        verdict=verdict,
        exit_code=code,
        reasons=tuple(reasons),
        slos=tuple(slos),
        faults=tuple(run.faults),
        load=load,
        hypothesis=tuple(checks),
        environment=environment,
        notes=tuple(f"rolled back by the engine after the experiment: {what}" for what in run.rolled_back_by_engine)
        + generator_notes(load),
        timeline=timeline,
        readiness=tuple(run.readiness),
        experiment=experiment,
        events=tuple(sorted(run.events, key=lambda e: e.at)),
    )


LAG_NOTE_MS = 5.0
"""Schedule lag p99 above this means the generator, not only the platform, shaped the latencies."""


def generator_notes(load: LoadSummary | None) -> tuple[str, ...]:
    """Say when the load generator, not the platform, was the bottleneck (its lag counts as latency)."""
    if load is None:
        return ()
    notes = []
    if load.schedule_lag_p99_ms is not None and load.schedule_lag_p99_ms > LAG_NOTE_MS:
        notes.append(
            f"the load generator ran late (schedule lag p99 {load.schedule_lag_p99_ms:.1f} ms): latencies, measured "
            "from the intended send time, include it; give the generator more CPU or lower the rate"
        )
    if load.duration_s and load.generator_cpu_s and load.generator_cpu_s / load.duration_s > 0.9:
        notes.append(
            f"the load generator used {load.generator_cpu_s / load.duration_s:.0%} of a core: it, not the platform, "
            "may be the bottleneck"
        )
    if load.target_rps and load.achieved_rps < 0.9 * load.target_rps and load.duration_s > 5:
        notes.append(f"only {load.achieved_rps:.0f} of {load.target_rps:.0f} req/s were sent")
    return tuple(notes)
