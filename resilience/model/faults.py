"""What a fault did, with the evidence that it landed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from resilience.model.enums import FaultKind

PENDING = "interrupted before the evidence was collected"
"""The error of a record whose fault is still on (or was interrupted before its evidence was in)."""


@dataclass(frozen=True, slots=True)
class FaultRecord:
    kind: FaultKind
    target: str
    """What it hit, e.g. `pod a-0 (role=inference, region=a)`."""
    injected_at: float
    landed: bool
    """True only with evidence (e.g. the parent saw the pid die of the signal we sent)."""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    recovered_at: float | None = None
    """When the target was healthy again (e.g. the replacement pod became ready), if it was."""
    error: str | None = None
    unmet: str | None = None
    """What the platform was expected to do in answer to the fault and did not (e.g. it kept a bad canary); the verdict fails the run on it."""
