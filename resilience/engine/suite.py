"""Suites: several experiments in order against one platform profile, an aggregated verdict and a score,
and the release gate's comparison against a baseline.

Resilience score = 100 x sum over experiments of weight x (SLOs passed / SLOs judged) / sum of weights,
where an experiment whose faults did not land or that aborted (exit 3) scores 0 and an inconclusive SLO
counts as not passed. Unlike LitmusChaos' score (a weighted average of its probes' success, judged by
the probes themselves) and Krkn's (pass/fail per scenario from cluster signals), it is made of client-side
SLO verdicts over every request, with confidence.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from resilience.engine.operator import Operator
from resilience.engine.runner import run_file, slug
from resilience.errors import ExperimentError, UsageError
from resilience.model import ExitCode, RunReport, SLOResult, SuiteReport, SuiteRun, Verdict

log = logging.getLogger(__name__)


class PlatformProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    regions: int = Field(1, ge=1, le=4)
    replicas: int = Field(2, ge=1, le=8)
    pipeline: bool = False
    netns: bool = False
    config: str | None = None
    """A platform config file (relative to the suite file)."""


class SuiteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    """The experiment file, relative to the suite file."""
    weight: float = Field(1.0, gt=0)


class SuiteFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    platform: PlatformProfile = Field(default_factory=lambda: PlatformProfile.model_validate({}))
    experiments: list[SuiteEntry] = Field(min_length=1)


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what} ({exc.strerror}); check the path") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}; fix the syntax") from exc


def load_suite(path: Path) -> SuiteFile:
    """Parse and validate a suite file (its experiments must exist); UsageError names file, field and fix."""
    raw = _read_yaml(path, "the suite")
    try:
        suite = SuiteFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        raise UsageError(f"{path}: {loc}: {err['msg']}; see experiments/ci.yaml for the shape") from exc
    for i, entry in enumerate(suite.experiments):
        if not (path.parent / entry.path).is_file():
            raise ExperimentError(f"{path}: experiments[{i}].path: {entry.path} does not exist (relative to the suite)")
    return suite


def experiment_score(report: RunReport) -> float:
    if report.exit_code == ExitCode.FAULT_OR_ABORT or not report.slos:
        return 0.0
    return sum(r.verdict is Verdict.PASS for r in report.slos) / len(report.slos)


def aggregate(
    name: str, runs: list[SuiteRun], extra_reasons: list[str] | None = None, not_run_weight: float = 0.0
) -> SuiteReport:
    """The suite's verdict: the worst exit code of its runs (1 too for any extra reason, e.g. a regression).

    Experiments that were not run (an aborted game day) count with score 0 through `not_run_weight`, and
    make the verdict an abort (3).
    """
    weights = (sum(r.weight for r in runs) + not_run_weight) or 1.0
    score = 100.0 * sum(r.weight * experiment_score(r.report) for r in runs) / weights
    reasons = [f"{Path(r.path).name}: {reason}" for r in runs for reason in r.report.reasons]
    reasons += extra_reasons or []
    codes = [r.report.exit_code for r in runs]
    code = ExitCode.FAULT_OR_ABORT if ExitCode.FAULT_OR_ABORT in codes else ExitCode(max(codes, default=0))
    if not_run_weight:
        code = ExitCode.FAULT_OR_ABORT
    if extra_reasons and code == ExitCode.OK:
        code = ExitCode.SLO_FAILED
    return SuiteReport(name, tuple(runs), round(score, 1), code, tuple(reasons), tuple(extra_reasons or ()))


def is_suite(path: Path) -> bool:
    """True when `path` holds a suite (a mapping with `experiments`), False for an experiment."""
    doc = _read_yaml(path, "the experiment or suite")
    return isinstance(doc, dict) and "experiments" in doc and "method" not in doc


def run_suite(
    path: Path, report_dir: Path, operator: Operator | None = None, load_overrides: dict[str, Any] | None = None
) -> SuiteReport:
    """Run every experiment of the suite in order (all of them, even after a failure) into `report_dir`.

    A game day's `operator` confirms each fault step; once they abort, the experiments left are not run
    (and score 0).
    """
    suite = load_suite(path)
    runs: list[SuiteRun] = []
    for i, entry in enumerate(suite.experiments, 1):
        if operator is not None and operator.aborted:
            left = suite.experiments[i - 1 :]
            reason = f"the game day was aborted: {len(left)} experiment(s) not run ({', '.join(e.path for e in left)})"
            return aggregate(suite.name, runs, [reason], not_run_weight=sum(e.weight for e in left))
        exp_path = (path.parent / entry.path).resolve()
        log.info("suite %s: experiment %d/%d %s", suite.name, i, len(suite.experiments), entry.path)
        if operator is not None:
            operator.label = f"{i}/{len(suite.experiments)} {entry.path}"
        report = run_file(
            exp_path, report_dir / f"{i:02d}-{slug(exp_path.stem)}", operator=operator, load_overrides=load_overrides
        )
        runs.append(SuiteRun(entry.path, entry.weight, report))
    return aggregate(suite.name, runs)


@dataclass(frozen=True, slots=True)
class Tolerances:
    latency_regression: float = 0.10
    """A latency SLO measured more than this much worse (relative) than the baseline is a regression."""
    budget_increase: float = 0.10
    """Error budget consumed more than this much higher (absolute, 0-1) than the baseline is a regression."""


def _baseline_slos(baseline: SuiteReport) -> dict[tuple[str, str], SLOResult]:
    """(experiment file name, SLO name) -> the baseline's SLO result."""
    return {(Path(run.report.experiment_path).name, s.name): s for run in baseline.runs for s in run.report.slos}


def check_baseline_covers(suite_path: Path, suite: SuiteFile, baseline: SuiteReport, where: Path) -> None:
    """Before anything runs: a baseline that shares no experiment with the suite is bad input (exit 2)."""
    names = {Path(e.path).name for e in suite.experiments}
    have = {name for name, _ in _baseline_slos(baseline)}
    if not names & have:
        raise UsageError(
            f"--baseline {where}: has SLO results for none of {suite_path}'s experiments "
            f"({', '.join(sorted(names))}; the baseline has {', '.join(sorted(have)) or 'none'}): "
            "pass a suite.json written by a run of this suite"
        )


def regressions(current: SuiteReport, baseline: SuiteReport, tol: Tolerances) -> list[str]:
    """Compare with a baseline suite.json: what got worse beyond the tolerances, even if the SLOs still pass.

    An SLO the baseline cannot vouch for (missing from it, or measured nothing there) is a reason too: a gate
    that skips what it cannot compare passes a renamed experiment unseen.
    """
    before = _baseline_slos(baseline)
    found = []
    for run in current.runs:
        report = run.report
        for r in report.slos:
            where = f"{Path(report.experiment_path).name} {r.name}"
            old = before.get((Path(report.experiment_path).name, r.name))
            if old is None:
                found.append(f"{where}: not in the baseline, so it cannot be compared; refresh the baseline")
                continue
            if old.measured is None:
                found.append(f"{where}: the baseline measured nothing for it, so it cannot be compared")
                continue
            if r.measured is None:
                continue  # measured nothing now: the SLO itself is inconclusive and fails the run already
            if r.unit == "ms" and r.measured > old.measured * (1 + tol.latency_regression):
                found.append(
                    f"regression against the baseline: {where}: {r.measured:.2f} ms vs baseline {old.measured:.2f} ms "
                    f"(+{r.measured / old.measured - 1:.0%} > {tol.latency_regression:.0%})"
                )
            spent, was = r.budget_consumed, old.budget_consumed
            if spent is not None and was is not None and spent > was + tol.budget_increase:
                found.append(
                    f"regression against the baseline: {where}: error budget spent {spent:.0%} vs baseline {was:.0%} "
                    f"(> +{tol.budget_increase:.0%})"
                )
    return found


def read_baseline(path: Path) -> SuiteReport:
    """A known-good suite.json, read through the same model `suite` and `gate` write it with."""
    from resilience.report.json_report import ReportFormatError, suite_from_dict

    try:
        return suite_from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"--baseline {path}: not a readable suite.json ({exc}); pass one a gate or suite wrote"
        ) from exc
    except ReportFormatError as exc:
        raise UsageError(f"--baseline {path}: {exc}; pass a suite.json a gate or suite of this version wrote") from exc
