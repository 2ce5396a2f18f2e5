"""A run that spread its load and lost part of it is never a pass; report.json keeps every worker."""

from __future__ import annotations

from pathlib import Path

from resilience.engine.runner import _finish
from resilience.engine.session import RunPlan, RunSession
from resilience.load.workers import behind, problems
from resilience.model import ExitCode, FaultKind, FaultRecord, LoadSummary, RunStatus, WorkerSummary
from resilience.report.json_report import from_dict, to_dict


def _summary(*workers: WorkerSummary) -> LoadSummary:
    return LoadSummary(2000, 0, 20.0, 100.0, 100.0, 1.0, 3.0, {}, workers=workers)


def test_lost_and_lagging_workers_are_named_with_what_they_missed() -> None:
    ok = WorkerSummary(1, 0.5, 1000, 1000.0, 1.0, 0.9)
    lost = WorkerSummary(2, 0.5, 400, 1000.0, None, None, lost="its process exited with -9")
    slow = WorkerSummary(3, 0.5, 800, 1000.0, 2.0, 40.0)
    noisy = WorkerSummary(4, 0.5, 45, 50.0, 0.1, 1.0)  # 10% short of 50 is Poisson noise, not falling behind
    assert problems(_summary(ok)) == [] and not behind(noisy)
    said = problems(_summary(ok, lost, slow, noisy))
    assert said == [
        "load worker 2 was lost (its process exited with -9): 60% of its share not sent",
        "load worker 3 fell behind: it sent 800 of the 1000 requests its share of the schedule asked for (20% "
        "missed); give it a core of its own or add workers",
    ]


class _Load:
    def __init__(self, summary: LoadSummary) -> None:
        self._summary = summary

    def slices(self) -> list[object]:
        return []

    def summary(self) -> LoadSummary:
        return self._summary


def test_a_run_that_lost_a_worker_errors_in_every_format(tmp_path: Path) -> None:
    run = RunSession(RunPlan(experiment_path=tmp_path / "x.yaml", work_dir=tmp_path, catalogue={}))
    run.book.faults.append(FaultRecord(FaultKind.POD_KILL, "pod a-0", 1.0, True))
    lost = WorkerSummary(2, 0.5, 400, 1000.0, None, None, lost="its heartbeats stopped")
    run.measured.load = _Load(_summary(WorkerSummary(1, 0.5, 1000, 1000.0, 1.0, 0.9), lost))  # type: ignore[assignment]
    journal = {"experiment": {"title": "t"}, "status": "completed", "run": [], "rollbacks": [], "steady_states": {}}
    report = _finish(journal, run, tmp_path)
    assert report.status is RunStatus.ERRORED and report.exit_code is ExitCode.FAULT_OR_ABORT
    assert any("load worker 2 was lost" in r for r in report.reasons), report.reasons
    back = from_dict(to_dict(report))
    assert back.load is not None and back.load.workers == report.load.workers  # type: ignore[union-attr]
    assert to_dict(report)["load"]["workers"][1]["missed_share"] == 0.6
    assert "load worker 2 was lost" in (tmp_path / "report.md").read_text()
