"""SLO math: pure functions from slices to results. No I/O, no clocks of its own."""

from resilience.slo.evaluate import evaluate, evaluate_all, window
from resilience.slo.histogram import Histogram, merge_latency, merge_lag

__all__ = ["Histogram", "evaluate", "evaluate_all", "merge_lag", "merge_latency", "window"]
