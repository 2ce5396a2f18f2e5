"""The fault ledger and recovery steps, against real files and real processes (no platform needed)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from resilience.errors import FaultError, UsageError
from resilience.faults import Ledger, Selector, recover
from resilience.faults.ledger import SignalGroup, StopProxy
from resilience.faults.recover import undo
from resilience.model import FaultKind


def test_entries_are_durable_until_cleared_and_filtered_by_run(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger")
    a = ledger.record(FaultKind.POD_HANG, "pod a-0", [SignalGroup(pgid=1, signal="SIGCONT")])
    b = ledger.record(FaultKind.NETWORK_LATENCY, "pod a-1", [])
    b = ledger.amend(b, [StopProxy(pid=123)])
    assert [e.id for e in ledger.active()] == [a.id, b.id]
    assert Ledger(tmp_path / "ledger").active()[1].undo == [StopProxy(pid=123)]  # re-read from disk, typed
    on_disk = json.loads((tmp_path / "ledger" / f"{b.id}.json").read_text())
    assert on_disk["undo"] == [{"op": "stop-proxy", "pid": 123}]  # the wire format any later version reads
    assert ledger.active(run_pid=os.getpid() + 1) == []
    ledger.clear(a)
    ledger.clear(a)  # idempotent
    assert [e.id for e in ledger.active(run_pid=os.getpid())] == [b.id]


def test_an_unreadable_entry_is_skipped_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    assert ledger.active() == []
    assert "unreadable" in caplog.text


def test_recover_resumes_a_stopped_process_and_clears_only_what_succeeded(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        os.killpg(sleeper.pid, 19)  # SIGSTOP, as a pod hang leaves it when the toolkit is killed
        time.sleep(0.1)
        assert Path(f"/proc/{sleeper.pid}/stat").read_text().split()[2] == "T"
        ledger = Ledger(tmp_path)
        ledger.record(FaultKind.POD_HANG, "sleeper", [SignalGroup(pgid=sleeper.pid, signal="SIGCONT")])
        other = ledger.record(FaultKind.REGION_PARTITION, "nowhere", [])
        entry_file = tmp_path / f"{other.id}.json"
        written = json.loads(entry_file.read_text())
        entry_file.write_text(json.dumps(written | {"undo": [{"op": "no-such-step"}]}))  # another version wrote it
        results = recover(ledger, platform=None)
        assert [r.error is None for r in results] == [True, False]
        assert "unknown undo step" in (results[1].error or "")
        time.sleep(0.1)
        assert Path(f"/proc/{sleeper.pid}/stat").read_text().split()[2] in ("S", "R")
        assert [e.target for e in ledger.active()] == ["nowhere"]  # kept for the next `recover`
    finally:
        sleeper.kill()
        sleeper.wait()


def test_undo_never_signals_an_unrelated_process(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        ledger = Ledger(tmp_path)
        entry = ledger.record(FaultKind.NETWORK_LATENCY, "x", [StopProxy(pid=sleeper.pid)])
        result = undo(entry, platform=None)
        assert result.error is None and "was not running" in result.done[0]
        assert sleeper.poll() is None  # a reused pid is not ours to kill
    finally:
        sleeper.kill()
        sleeper.wait()


def test_selector_arguments_are_validated() -> None:
    with pytest.raises(UsageError, match="count and percentage"):
        Selector(count=1, percentage=10)
    with pytest.raises(UsageError, match="percentage"):
        Selector(percentage=0)
    with pytest.raises(UsageError, match="max_fraction"):
        Selector(max_fraction=1.5)
    assert issubclass(UsageError, ValueError) and not issubclass(FaultError, ValueError)
