"""The fault ledger: every fault is written down, with how to undo it, before it is injected.

One JSON file per active fault in `<platform state dir>/ledger/`, fsynced before the fault lands and
removed once its rollback is done. A run killed with `kill -9` (or a machine that rebooted the
toolkit away) leaves its entries behind, and `resilience recover` undoes them. Undo steps are typed data
(`UndoStep`: one model per `op`, written as JSON) so that any later process can carry them out.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from resilience.model import FaultKind

log = logging.getLogger(__name__)


class _Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SignalGroup(_Step):
    """Send `signal` to process group `pgid` (SIGCONT after a hang)."""

    op: Literal["signal-group"] = "signal-group"
    pgid: int
    signal: str


class StopProxy(_Step):
    """Stop the fault proxy `pid` (only if it is still ours)."""

    op: Literal["stop-proxy"] = "stop-proxy"
    pid: int


class StopBurner(_Step):
    """Stop the burner `pid`, or the one its `state_file` names (killed before the pid was written down)."""

    op: Literal["stop-burner"] = "stop-burner"
    pid: int | None = None
    state_file: str | None = None


class RestoreRoute(_Step):
    """Route the gateway's traffic for `pod` directly again."""

    op: Literal["restore-route"] = "restore-route"
    pod: str


class DeleteTable(_Step):
    """Delete the nftables table `table`."""

    op: Literal["delete-table"] = "delete-table"
    table: str


class DeleteQdisc(_Step):
    """Delete the root qdisc of `dev` (in network namespace `netns`)."""

    op: Literal["delete-qdisc"] = "delete-qdisc"
    dev: str
    netns: str | None = None


class AbortRollout(_Step):
    """Abort the platform's rollout if it is still going."""

    op: Literal["abort-rollout"] = "abort-rollout"


class CameraControl(_Step):
    """Set the cameras back to `settings`."""

    op: Literal["camera-control"] = "camera-control"
    settings: dict[str, Any]


UndoStep = Annotated[
    SignalGroup | StopProxy | StopBurner | RestoreRoute | DeleteTable | DeleteQdisc | AbortRollout | CameraControl,
    Field(discriminator="op"),
]
_STEP: TypeAdapter[UndoStep] = TypeAdapter(UndoStep)


@dataclass(frozen=True, slots=True)
class UnknownStep:
    """A step this version cannot read (another version wrote it, or it was edited): kept, never dropped."""

    raw: dict[str, Any]
    why: str


def parse_step(raw: dict[str, Any]) -> UndoStep | UnknownStep:
    try:
        return _STEP.validate_python(raw)
    except ValidationError as exc:
        return UnknownStep(raw, exc.errors()[0]["msg"])


def _step_json(step: UndoStep | UnknownStep) -> dict[str, Any]:
    return step.raw if isinstance(step, UnknownStep) else step.model_dump()


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: str
    kind: FaultKind
    target: str
    undo: list[UndoStep | UnknownStep]
    """Steps that roll the fault back, in order; each is idempotent (see `resilience.faults.recover`)."""
    run_pid: int = field(default_factory=os.getpid)
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "target": self.target,
            "undo": [_step_json(step) for step in self.undo],
            "run_pid": self.run_pid,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LedgerEntry:
        undo = [parse_step(step) for step in d["undo"]]
        return cls(d["id"], FaultKind(d["kind"]), d["target"], undo, d["run_pid"], d["created_at"])


class Ledger:
    """Active faults of one platform, on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def record(self, kind: FaultKind, target: str, undo: Sequence[UndoStep]) -> LedgerEntry:
        """Write the entry (durably) before the fault is injected; return it."""
        entry = LedgerEntry(f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}", kind, target, list(undo))
        self._write(entry)
        log.debug("ledger: recorded %s %s", entry.kind.value, entry.target)
        return entry

    def amend(self, entry: LedgerEntry, undo: Sequence[UndoStep]) -> LedgerEntry:
        """Replace an entry's undo steps (e.g. once a helper process's pid is known)."""
        amended = LedgerEntry(entry.id, entry.kind, entry.target, list(undo), entry.run_pid, entry.created_at)
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
