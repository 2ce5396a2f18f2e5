"""report.json and suite.json: the machine-readable reports (schema_version 1), written and read back through
the same code, so the gate reads a baseline through the model the writer used (`suite_from_dict`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from resilience.model import (
    EventKind,
    ExitCode,
    FaultKind,
    FaultRecord,
    HypothesisCheck,
    LoadSummary,
    ReadinessSample,
    RunEvent,
    RunReport,
    RunStatus,
    SLIKind,
    SLOResult,
    SuiteReport,
    SuiteRun,
    TimePoint,
    Verdict,
    WorkerSummary,
)

SCHEMA_VERSION = 1


def to_dict(report: RunReport) -> dict[str, Any]:
    load = asdict(report.load) if report.load else None
    return {
        "schema_version": SCHEMA_VERSION,
        "experiment": {"title": report.title, "path": report.experiment_path},
        "verdict": report.verdict.value,
        "exit_code": int(report.exit_code),
        "status": report.status.value,
        "reasons": list(report.reasons),
        "notes": list(report.notes),
        "timeline": [asdict(p) for p in report.timeline],
        "readiness": [asdict(r) for r in report.readiness],
        "events": [
            {"at": e.at, "offset_s": round(e.at - report.started_at, 3), "kind": e.kind.value, "text": e.text}
            for e in report.events
        ],
        "started_at": report.started_at,
        "ended_at": report.ended_at,
        "slos": [
            {
                "name": r.name,
                "sli": r.sli.value,
                "objective": r.objective,
                "measured": r.measured,
                "unit": r.unit,
                "verdict": r.verdict.value,
                "samples": r.samples,
                "window": {"start": r.window_start, "end": r.window_end},
                "detail": r.detail,
                "confidence": r.confidence,
                "needed_samples": r.needed_samples,
                "bad": r.bad,
                "budget_consumed": r.budget_consumed,
                "burn_rate": r.burn_rate,
                "uptime": r.uptime,
                "alerts": list(r.alerts),
                "time_to_detect_s": r.time_to_detect_s,
                "time_to_detect_wall_s": r.time_to_detect_wall_s,
                "time_to_recover_s": r.time_to_recover_s,
                "target": r.target,
            }
            for r in report.slos
        ],
        "faults": [
            {
                "kind": f.kind.value,
                "target": f.target,
                "injected_at": f.injected_at,
                "recovered_at": f.recovered_at,
                "landed": f.landed,
                "evidence": dict(f.evidence),
                "error": f.error,
                "unmet": f.unmet,
            }
            for f in report.faults
        ],
        "load": load
        and {
            "requests": load["requests"],
            "failures": load["failures"],
            "duration_s": load["duration_s"],
            "target_rps": load["target_rps"],
            "achieved_rps": load["achieved_rps"],
            "schedule_lag_p99_ms": load["schedule_lag_p99_ms"],
            "generator_cpu_s": load["generator_cpu_s"],
            "errors": dict(load["errors"]),
            "workers": [
                dict(w, missed_share=round(x.missed_share, 4))
                for w, x in zip(load["workers"], report.load.workers, strict=True)
            ]
            if report.load
            else [],
        },
        "steady_state": [
            {"phase": c.phase, "met": c.met, "probes": [{"name": n, "met": ok} for n, ok in c.probes]}
            for c in report.hypothesis
        ],
        "environment": report.environment,
    }


def write_json(report: RunReport, path: Path) -> None:
    path.write_text(json.dumps(to_dict(report), indent=2) + "\n")


def suite_to_dict(suite: SuiteReport) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "suite": suite.name,
        "score": suite.score,
        "verdict": suite.verdict.value,
        "exit_code": int(suite.exit_code),
        "reasons": list(suite.reasons),
        "suite_reasons": list(suite.suite_reasons),
        "experiments": [to_dict(run.report) | {"weight": run.weight, "suite_path": run.path} for run in suite.runs],
    }


def write_suite_json(suite: SuiteReport, path: Path) -> None:
    path.write_text(json.dumps(suite_to_dict(suite), indent=2, default=str) + "\n")


class ReportFormatError(ValueError):
    """A report.json or suite.json this version cannot read (another schema, or not one at all)."""


def _slo(d: dict[str, Any]) -> SLOResult:
    return SLOResult(
        name=d["name"],
        sli=SLIKind(d["sli"]),
        objective=d["objective"],
        measured=d["measured"],
        unit=d["unit"],
        verdict=Verdict(d["verdict"]),
        samples=d["samples"],
        window_start=d["window"]["start"],
        window_end=d["window"]["end"],
        detail=d.get("detail", ""),
        confidence=d.get("confidence"),
        needed_samples=d.get("needed_samples"),
        bad=d.get("bad", 0),
        budget_consumed=d.get("budget_consumed"),
        burn_rate=d.get("burn_rate"),
        uptime=d.get("uptime"),
        alerts=tuple(d.get("alerts", ())),
        time_to_detect_s=d.get("time_to_detect_s"),
        time_to_detect_wall_s=d.get("time_to_detect_wall_s"),
        time_to_recover_s=d.get("time_to_recover_s"),
        target=d.get("target"),
    )


def _fault(d: dict[str, Any]) -> FaultRecord:
    return FaultRecord(
        FaultKind(d["kind"]),
        d["target"],
        d["injected_at"],
        d["landed"],
        d.get("evidence") or {},
        d.get("recovered_at"),
        d.get("error"),
        d.get("unmet"),
    )


def from_dict(d: dict[str, Any]) -> RunReport:
    """A RunReport from what `to_dict` wrote (the raw experiment document is not in report.json)."""
    if d.get("schema_version") != SCHEMA_VERSION:
        raise ReportFormatError(f"schema_version {d.get('schema_version')!r}; this version reads {SCHEMA_VERSION}")
    try:
        load = d.get("load")
        return RunReport(
            title=d["experiment"]["title"],
            experiment_path=d["experiment"]["path"],
            started_at=d["started_at"],
            ended_at=d["ended_at"],
            status=RunStatus(d["status"]),
            verdict=Verdict(d["verdict"]),
            exit_code=ExitCode(d["exit_code"]),
            reasons=tuple(d["reasons"]),
            slos=tuple(_slo(s) for s in d["slos"]),
            faults=tuple(_fault(f) for f in d["faults"]),
            load=_load(load) if load else None,
            hypothesis=tuple(
                HypothesisCheck(c["phase"], c["met"], tuple((p["name"], p["met"]) for p in c["probes"]))
                for c in d.get("steady_state", ())
            ),
            environment=d.get("environment") or {},
            notes=tuple(d.get("notes", ())),
            timeline=tuple(TimePoint(**p) for p in d.get("timeline", ())),
            readiness=tuple(
                ReadinessSample(r["at"], tuple(r["ready"]), tuple(r["not_ready"])) for r in d.get("readiness", ())
            ),
            events=tuple(RunEvent(e["at"], EventKind(e["kind"]), e["text"]) for e in d.get("events", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportFormatError(f"not a report.json of schema {SCHEMA_VERSION}: {exc!r}") from exc


def suite_from_dict(d: dict[str, Any]) -> SuiteReport:
    """A SuiteReport from what `suite_to_dict` wrote."""
    if "experiments" not in d:
        raise ReportFormatError("has no `experiments`: a suite.json, not a single report.json, is needed")
    try:
        runs = tuple(SuiteRun(e["suite_path"], e["weight"], from_dict(e)) for e in d["experiments"])
        return SuiteReport(
            name=d["suite"],
            runs=runs,
            score=d["score"],
            exit_code=ExitCode(d["exit_code"]),
            reasons=tuple(d["reasons"]),
            suite_reasons=tuple(d.get("suite_reasons", ())),
        )
    except ReportFormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportFormatError(f"not a suite.json of schema {SCHEMA_VERSION}: {exc!r}") from exc


def _load(d: dict[str, Any]) -> LoadSummary:
    workers = tuple(WorkerSummary(**{k: v for k, v in w.items() if k != "missed_share"}) for w in d.get("workers", ()))
    return LoadSummary(**{k: v for k, v in d.items() if k != "workers"}, workers=workers)
