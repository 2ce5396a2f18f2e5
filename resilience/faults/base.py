"""What every fault gets to work with, and how it keeps its records honest while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from resilience.faults.ledger import Ledger
from resilience.model import FaultRecord
from resilience.model.faults import PENDING
from resilience.targets import Target


@dataclass
class FaultContext:
    """The platform a fault lands on, the run's fault records, and the ledger of active faults."""

    platform: Target
    records: list[FaultRecord] = field(default_factory=list)
    """The run's records: a fault enters its record the moment it lands, so an interrupted run reports it."""
    ledger: Ledger | None = None

    def __post_init__(self) -> None:
        if self.ledger is None:
            self.ledger = Ledger(self.platform.state_dir / "ledger")

    @property
    def book(self) -> Ledger:
        assert self.ledger is not None
        return self.ledger

    def scratch(self, name: str) -> Path:
        """A path for a fault helper's state file (proxies, burners), next to the ledger."""
        folder = self.platform.state_dir / "faults"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def pending(self, record: FaultRecord) -> int:
        """Enter a record that is not verified yet; return its slot."""
        if record.error is None:  # what the report says if the run is interrupted before `settle`
            record = replace(record, error=PENDING)
        self.records.append(record)
        return len(self.records) - 1

    def settle(self, slot: int, record: FaultRecord) -> FaultRecord:
        """Replace the pending record in `slot` with the verified one."""
        self.records[slot] = record
        return record
