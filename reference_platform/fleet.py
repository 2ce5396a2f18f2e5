"""The fleet: the pods a platform runs and the verbs that change them, as its autoscaler and rollouts see it.

The supervisor implements `Fleet`; the autoscaler and the rollout controllers are handed one and never
import the supervisor, so nothing depends back on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from reference_platform.pods import ReplicaPod


class Fleet(Protocol):
    @property
    def pods(self) -> Sequence[ReplicaPod]:
        """Every running pod (replicas and pipeline stages), slots excluded."""
        ...

    def add_pod(self, pod: ReplicaPod) -> None:
        """Start a slot's pod and put it under a controller; it joins the gateway once ready."""
        ...

    def remove_pod(self, pod: ReplicaPod) -> None:
        """Stop a pod for good: its controller ends, its process group is stopped and cleaned up."""
        ...

    def restart_pod(self, pod: ReplicaPod, version: int, reason: str, timeout_s: float = 120.0) -> None:
        """Drain the pod in the gateway, restart it on `version`, and wait until it is ready again."""
        ...
