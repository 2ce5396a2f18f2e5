"""SLO math: pure functions from slices to results. No I/O, no clocks of its own."""

from resilience.model.histogram import Histogram, merge_lag, merge_latency
from resilience.slo.evaluate import evaluate, evaluate_all, seconds, window

__all__ = ["Histogram", "evaluate", "evaluate_all", "merge_lag", "merge_latency", "seconds", "window"]
