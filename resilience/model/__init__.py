"""Plain typed data shared by every layer: measurements, SLO specs and results, faults, reports."""

from resilience.model.enums import ExitCode, FaultKind, RunStatus, SLIKind, Verdict
from resilience.model.faults import FaultRecord
from resilience.model.histogram import Histogram, merge_lag, merge_latency
from resilience.model.measure import LoadSummary, Slice
from resilience.model.report import HypothesisCheck, RunReport
from resilience.model.slo import SLOResult, SLOSpec

__all__ = [
    "ExitCode",
    "FaultKind",
    "FaultRecord",
    "Histogram",
    "HypothesisCheck",
    "LoadSummary",
    "RunReport",
    "RunStatus",
    "SLIKind",
    "SLOResult",
    "SLOSpec",
    "Slice",
    "Verdict",
    "merge_lag",
    "merge_latency",
]
