"""Faults: what to do to a target. Each is inject -> verify (evidence it landed) -> rollback (idempotent)."""

from resilience.faults.pod import PodKill, wait_all_ready

__all__ = ["PodKill", "wait_all_ready"]
