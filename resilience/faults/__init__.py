"""Faults: what to do to a target. Each is inject -> verify (evidence it landed) -> rollback (idempotent).

Every fault has `plan(platform)` (what it would hit, touching nothing: `resilience run --dry-run`) and
`inject(ctx)` (do it, prove it, undo it, and return one `FaultRecord` per target).
"""

from typing import Protocol

from resilience.faults.app import BadCanary, CameraFault
from resilience.faults.bandwidth import Bandwidth
from resilience.faults.base import FaultContext
from resilience.faults.compute import Saturation
from resilience.faults.ledger import Ledger, LedgerEntry
from resilience.faults.network import ConnectionReset, NetworkLatency, PacketLoss, RegionPartition
from resilience.faults.pod import CrashLoop, PodHang, PodKill, wait_all_ready
from resilience.faults.recover import Recovered, recover
from resilience.faults.select import Selector
from resilience.model import FaultRecord
from resilience.targets import Target


class Fault(Protocol):
    def plan(self, platform: Target) -> list[str]: ...

    def inject(self, ctx: FaultContext) -> list[FaultRecord]: ...


__all__ = [
    "BadCanary",
    "Bandwidth",
    "CameraFault",
    "ConnectionReset",
    "CrashLoop",
    "Fault",
    "FaultContext",
    "Ledger",
    "LedgerEntry",
    "NetworkLatency",
    "PacketLoss",
    "PodHang",
    "PodKill",
    "Recovered",
    "RegionPartition",
    "Saturation",
    "Selector",
    "recover",
    "wait_all_ready",
]
