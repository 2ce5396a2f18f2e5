"""Turn a chaoslib journal and the run's measurements into one verdict and exit code.

Stricter than `chaos run` on purpose: a baseline that already fails, a deviation during the method
that recovered, a fault that raised or left no evidence, a rollback that failed, a run with no fault or
no SLO judged over real load, a load well under its declared rate, and an SLO without enough samples all
keep the exit code from being 0. Every report format renders this one decision.
"""

from __future__ import annotations

import re
from dataclasses import replace
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
    verdict_of,
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
    missed = [(label, r) for label, r in run.measured.probe_results if r.verdict is Verdict.FAIL]
    for label, result in missed:
        reasons.append(
            f"baseline measured {label.split(' @ ')[0]}: {result.measured_text} against {result.objective} "
            f"over {result.samples} requests"
        )
    rate = run.plan.load_spec.rate if run.plan.load_spec else None
    at = f" at {rate:g} req/s" if rate else ""
    reasons.append(
        f"the platform did not meet its SLOs{at} before any fault: if this box is slow or busy, measure what it "
        "serves with `resilience platform capacity`, then lower the load's rate or stop other busy processes"
    )
    return reasons


MIN_LOAD_SHARE = 0.9
"""Below this share of the declared rate an SLO that held is only inconclusive: it was not shown at the load
it claims. Poisson arrivals over a 30 s run at 100 req/s vary by ~2%; a generator that fell behind, or a
load cut short, shows up well below."""


_EXCEPTION_NAME = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Failed|Exception|Interrupt\w*)\s*:\s*)+")


def exception_text(entry: dict[str, Any]) -> str:
    """A journal entry's exception as its message only: chaoslib writes `chaoslib.exceptions.ActivityFailed: why`
    (and some paths repeat the class name); the user needs the why."""
    last = ((entry.get("exception") or ["?"])[-1]).strip()
    return _EXCEPTION_NAME.sub("", last) or last


def _cleanup_reasons(journal: dict[str, Any], run: RunSession) -> list[str]:
    """Rollbacks that failed: whatever else happened, the run says so and points at `resilience recover`."""
    reasons = [
        f"rollback {entry.get('activity', {}).get('name')!r} failed: {exception_text(entry)}; run `resilience recover`"
        for entry in journal.get("rollbacks") or []
        if entry.get("status") != "succeeded"
    ]
    return reasons + [f"could not roll back {what}; run `resilience recover`" for what in run.book.rollback_failures]


def _stopped_early(journal: dict[str, Any], run: RunSession) -> tuple[RunStatus, ExitCode, str] | None:
    """Abort, stop condition or interrupt: the run did not go to its end."""
    if run.outcome.aborted_by:  # a game day's operator pulled the plug: nothing was judged to the end
        return RunStatus.ABORTED, ExitCode.FAULT_OR_ABORT, f"{run.outcome.aborted_by}; rollbacks ran"
    if run.outcome.stopped_by:  # the SLO burned too fast while the fault was on: a failed release, not a broken tool
        why = f"a stop condition aborted the method ({run.outcome.stopped_by}); rollbacks ran"
        return RunStatus.ABORTED, ExitCode.SLO_FAILED, why
    if journal.get("status") in ("interrupted", "aborted"):
        return RunStatus.ABORTED, ExitCode.FAULT_OR_ABORT, f"the run was {journal.get('status')}; rollbacks ran"
    for entry in journal.get("run") or []:
        # chaoslib turns SIGTERM into InterruptExecution inside the running activity and reports the activity
        # as failed, the run as completed: it was an abort (its rollbacks ran)
        text = "".join(entry.get("exception") or [])
        if "InterruptExecution" in text or "KeyboardInterrupt" in text:
            why = text.strip().rsplit(":", 1)[-1].strip() or "interrupted"
            name = entry["activity"].get("name")
            return (
                RunStatus.ABORTED,
                ExitCode.FAULT_OR_ABORT,
                f"the run was interrupted during {name!r} ({why}); rollbacks ran",
            )
    return None


def _measured_nothing(run: RunSession, slos: list[SLOResult]) -> list[str]:
    """A pass needs a fault that was tested and at least one SLO judged over real load."""
    reasons = []
    if not slos and run.measured.load is None:
        reasons.append(
            "no load ran, so nothing was measured: add the `load` control to the experiment's `controls` "
            "(see experiments/pod-kill.yaml)"
        )
    elif not slos:
        reasons.append(
            "the run judged no SLO over its load: name at least one in the load control's `slos` argument "
            "(e.g. `slos: [availability, latency-p99]`)"
        )
    if not run.book.faults and not run.book.skipped:
        reasons.append("the method injected no fault, so no resilience was tested: add a fault action to `method`")
    return reasons


def decide(
    journal: dict[str, Any], run: RunSession, slos: list[SLOResult], checks: list[HypothesisCheck]
) -> tuple[RunStatus, ExitCode, list[str]]:
    """Return (status, exit code, reasons). Precedence: broken run, abort, baseline, fault, nothing measured,
    deviation, SLOs. A failed rollback is reported whatever else happened, and makes the exit code 3."""
    cleanup = _cleanup_reasons(journal, run)
    if run.outcome.errors:
        return RunStatus.ERRORED, ExitCode.FAULT_OR_ABORT, [f"the run broke: {e}" for e in run.outcome.errors] + cleanup
    early = _stopped_early(journal, run)
    if early is not None:
        status, code, why = early
        return status, ExitCode.FAULT_OR_ABORT if cleanup else code, [why, *cleanup]
    before = [c for c in checks if c.phase == "before"]
    if before and not before[0].met:
        failed = ", ".join(name for name, ok in before[0].probes if not ok)
        code = ExitCode.FAULT_OR_ABORT if cleanup else ExitCode.SLO_FAILED
        return RunStatus.BASELINE_FAILED, code, _baseline_reasons(failed, run) + cleanup
    reasons: list[str] = []
    for entry in journal.get("run") or []:
        if entry.get("status") != "succeeded" and entry.get("activity", {}).get("type") == "action":
            reasons.append(f"action {entry['activity'].get('name')!r} failed: {exception_text(entry)}")
    reasons += [f"the operator skipped {step!r}: its fault was not tested" for step in run.book.skipped]
    for fault in run.book.faults:
        if not fault.landed:
            reasons.append(f"fault {fault.kind.value} on {fault.target} has no evidence it landed: {fault.error}")
    reasons += cleanup
    if reasons:
        return RunStatus.FAULT_FAILED, ExitCode.FAULT_OR_ABORT, reasons
    reasons = _measured_nothing(run, slos)
    if reasons:
        return RunStatus.ERRORED, ExitCode.FAULT_OR_ABORT, reasons
    for check in checks:
        if check.phase != "before" and not check.met:
            failed = ", ".join(name for name, ok in check.probes if not ok)
            reasons.append(f"the steady state deviated {check.phase} the method ({failed})")
    reasons += [
        f"the platform did not answer fault {f.kind.value} on {f.target} as expected: {f.unmet}"
        for f in run.book.faults
        if f.unmet
    ]
    status = RunStatus.DEVIATED if reasons else RunStatus.COMPLETED
    for r in slos:
        if r.verdict is Verdict.FAIL:
            reasons.append(f"SLO {r.name} failed: {r.measured_text} vs {r.objective} ({r.detail})")
        elif r.verdict is not Verdict.PASS:
            reasons.append(f"SLO {r.name} is {r.verdict.value}: {r.detail}")
    return status, (ExitCode.SLO_FAILED if reasons else ExitCode.OK), reasons


def at_declared_load(slos: list[SLOResult], load: LoadSummary | None) -> list[SLOResult]:
    """SLOs that held at well under the declared rate are inconclusive: they were not shown at that load."""
    if load is None or not load.target_rps or load.duration_s <= 5:
        return slos
    share = load.achieved_rps / load.target_rps
    if share >= MIN_LOAD_SHARE:
        return slos
    why = (
        f"judged at only {load.achieved_rps:.0f} of the declared {load.target_rps:g} req/s ({share:.0%} < "
        f"{MIN_LOAD_SHARE:.0%}): not shown at the load it claims; give the generator more CPU or lower the rate"
    )
    return [
        replace(r, verdict=Verdict.INCONCLUSIVE, detail=f"{r.detail}; {why}") if r.verdict is Verdict.PASS else r
        for r in slos
    ]


def run_verdict(status: RunStatus, code: ExitCode, slos: list[SLOResult]) -> Verdict:
    """The run's verdict, from its exit code; a run that failed only for want of evidence is inconclusive."""
    verdict = verdict_of(code)
    if verdict is Verdict.FAIL and status is RunStatus.COMPLETED and all(r.verdict is not Verdict.FAIL for r in slos):
        return Verdict.INCONCLUSIVE
    return verdict


def assemble(
    journal: dict[str, Any],
    run: RunSession,
    slos: list[SLOResult],
    load: LoadSummary | None,
    environment: dict[str, Any],
    timeline: tuple[TimePoint, ...] = (),
) -> RunReport:
    checks = hypothesis_checks(journal)
    slos = at_declared_load(slos, load)
    status, code, reasons = decide(journal, run, slos, checks)
    verdict = run_verdict(status, code, slos)
    experiment = journal.get("experiment") or {}
    return RunReport(
        title=experiment.get("title", "?"),
        experiment_path=str(run.plan.experiment_path or ""),
        started_at=run.timeline.started_at,
        ended_at=run.measured.measure_to or run.timeline.started_at,
        status=status,
        verdict=verdict,
        exit_code=code,
        reasons=tuple(reasons),
        slos=tuple(slos),
        faults=tuple(run.book.faults),
        load=load,
        hypothesis=tuple(checks),
        environment=environment,
        notes=tuple(
            f"rolled back by the engine after the experiment: {what}" for what in run.book.rolled_back_by_engine
        )
        + generator_notes(load),
        timeline=timeline,
        readiness=tuple(run.measured.readiness),
        experiment=experiment,
        events=tuple(sorted(run.timeline.events, key=lambda e: e.at)),
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
    return tuple(notes)
