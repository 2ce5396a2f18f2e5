"""Plain typed data shared by every layer: measurements, SLO specs and results, faults, reports."""

from resilience.model.enums import Budgeting, EventKind, ExitCode, FaultKind, Phase, RunStatus, SLIKind, Verdict
from resilience.model.faults import FaultRecord
from resilience.model.histogram import Histogram, merge_lag, merge_latency
from resilience.model.measure import LoadSummary, Slice, WorkerSummary
from resilience.model.report import (
    HypothesisCheck,
    ReadinessSample,
    RunEvent,
    RunReport,
    SuiteReport,
    SuiteRun,
    TimePoint,
    verdict_of,
)
from resilience.model.slo import SLOResult, SLOSpec, StopCondition

__all__ = [
    "Budgeting",
    "EventKind",
    "ExitCode",
    "FaultKind",
    "FaultRecord",
    "Histogram",
    "HypothesisCheck",
    "LoadSummary",
    "Phase",
    "ReadinessSample",
    "RunEvent",
    "RunReport",
    "RunStatus",
    "SLIKind",
    "SLOResult",
    "SLOSpec",
    "Slice",
    "StopCondition",
    "SuiteReport",
    "SuiteRun",
    "TimePoint",
    "Verdict",
    "WorkerSummary",
    "merge_lag",
    "merge_latency",
    "verdict_of",
]
