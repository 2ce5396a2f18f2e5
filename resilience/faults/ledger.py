"""The fault ledger: every fault is written down, with how to undo it, before it is injected.

One JSON file per active fault in `<platform state dir>/ledger/`, fsynced before the fault lands and
removed once its rollback is done. A run killed with `kill -9` (or a machine that rebooted the
toolkit away) leaves its entries behind, and `resilience recover` undoes them. Undo steps are plain
data (an op name and its arguments) so that any later process can carry them out.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resilience.model import FaultKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: str
    kind: FaultKind
    target: str
    undo: list[dict[str, Any]]
    """Steps that roll the fault back, in order; each is idempotent (see `resilience.faults.recover`)."""
    run_pid: int = field(default_factory=os.getpid)
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "target": self.target,
            "undo": self.undo,
            "run_pid": self.run_pid,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LedgerEntry:
        return cls(d["id"], FaultKind(d["kind"]), d["target"], list(d["undo"]), d["run_pid"], d["created_at"])


class Ledger:
    """Active faults of one platform, on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def record(self, kind: FaultKind, target: str, undo: list[dict[str, Any]]) -> LedgerEntry:
        """Write the entry (durably) before the fault is injected; return it."""
        entry = LedgerEntry(f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}", kind, target, undo)
        self._write(entry)
        log.debug("ledger: recorded %s %s", entry.kind.value, entry.target)
        return entry

    def amend(self, entry: LedgerEntry, undo: list[dict[str, Any]]) -> LedgerEntry:
        """Replace an entry's undo steps (e.g. once a helper process's pid is known)."""
        amended = LedgerEntry(entry.id, entry.kind, entry.target, undo, entry.run_pid, entry.created_at)
        self._write(amended)
        return amended

    def clear(self, entry: LedgerEntry) -> None:
        """The fault is rolled back: forget it."""
        (self.directory / f"{entry.id}.json").unlink(missing_ok=True)

    def active(self, run_pid: int | None = None) -> list[LedgerEntry]:
        """Entries not yet rolled back (only those written by `run_pid`, if given), oldest first."""
        entries = []
        for path in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else []:
            try:
                entry = LedgerEntry.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ledger: %s is unreadable (%s); remove it by hand once checked", path, exc)
                continue
            if run_pid is None or entry.run_pid == run_pid:
                entries.append(entry)
        return sorted(entries, key=lambda e: e.created_at)

    def _write(self, entry: LedgerEntry) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{entry.id}.json"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(entry.to_json(), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
