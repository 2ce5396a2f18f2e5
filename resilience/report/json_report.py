"""report.json: the machine-readable report (schema_version 1)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from resilience.model import RunReport, SuiteReport

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
