"""Every fixed set of values, each with one spelling."""

from __future__ import annotations

import enum


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class RunStatus(enum.StrEnum):
    """What happened to the run as a whole (not whether SLOs held)."""

    COMPLETED = "completed"
    BASELINE_FAILED = "baseline-failed"
    DEVIATED = "deviated"
    FAULT_FAILED = "fault-failed"
    ABORTED = "aborted"
    ERRORED = "errored"


class ExitCode(enum.IntEnum):
    """The CI contract."""

    OK = 0
    SLO_FAILED = 1
    USAGE = 2
    FAULT_OR_ABORT = 3


class FaultKind(enum.StrEnum):
    POD_KILL = "pod-kill"
    POD_HANG = "pod-hang"
    POD_CRASH_LOOP = "pod-crash-loop"
    GPU_SATURATION = "gpu-saturation"
    GPU_MEMORY_PRESSURE = "gpu-memory-pressure"
    COMPUTE_SATURATION = "compute-saturation (no GPU present)"
    """Without a GPU the saturation fault burns the replicas' CPU cores instead, and is named for it."""
    REGION_PARTITION = "region-partition"
    NETWORK_LATENCY = "network-latency"
    NETWORK_LOSS = "network-loss"
    NETWORK_BANDWIDTH = "network-bandwidth"
    CONNECTION_RESET = "connection-reset"
    BAD_CANARY = "bad-canary"
    CAMERA_STALL = "camera-stall"
    CORRUPT_FRAMES = "corrupt-frames"


class Phase(enum.StrEnum):
    """Where a run is, from chaoslib's own run events."""

    SETUP = "setup"
    STEADY_STATE = "steady-state"
    METHOD = "method"
    AFTER_METHOD = "after-method"
    ROLLBACKS = "rollbacks"
    DONE = "done"


class EventKind(enum.StrEnum):
    """What a timeline event records: the engine's steps, the operator's decisions, observers' notes."""

    STEP = "step"
    STEP_END = "step-end"
    CONFIRMED = "confirmed"
    SKIPPED = "skipped"
    ABORT = "abort"
    NOTE = "note"


class Budgeting(enum.StrEnum):
    """OpenSLO budgeting methods."""

    OCCURRENCES = "occurrences"
    TIMESLICES = "timeslices"


class SLIKind(enum.StrEnum):
    AVAILABILITY = "availability"
    LATENCY = "latency"
