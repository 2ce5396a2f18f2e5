"""The helper-process lifecycle on real (tiny) processes: spawn, readiness, state, stop, and recovery by pid."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from resilience.errors import FaultError
from resilience.targets.helperprocess import (
    HelperProcess,
    Readiness,
    is_helper,
    read_state,
    remove_state,
    stop_recorded,
    write_state,
)

TAG = "resilience-unit-test-helper"  # stands where `-m MODULE` stands in a real helper's command line

# argv: TAG MODE STATE_FILE. Modes: ready (write state, wait), deaf (the same, ignoring SIGTERM),
# fork (the same, with a child in its group), exit (exit 7 at once), silent (never write state).
FAKE = textwrap.dedent(
    """
    import json, os, signal, sys, time
    mode, path = sys.argv[2], sys.argv[3]
    if mode == "exit":
        sys.exit(7)
    if mode == "deaf":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    state = {"pid": os.getpid()}
    if mode == "fork":
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        state["child"] = child
    if mode != "silent":
        with open(path + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(path + ".tmp", path)
    print("fake helper", mode, "up", flush=True)
    time.sleep(60)
    """
)

Spawn = Callable[..., HelperProcess]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Spawn fake helpers; every one is killed afterwards, whatever the test did."""
    started: list[HelperProcess] = []

    def start(mode: str, name: str = "fake helper") -> HelperProcess:
        state_file = tmp_path / f"{mode}-{len(started)}.json"
        with open(tmp_path / f"{mode}-{len(started)}.log", "ab") as out:
            helper = HelperProcess.spawn(
                [sys.executable, "-c", FAKE, TAG, mode, str(state_file)], name, output=out, state_file=state_file
            )
        started.append(helper)
        return helper

    try:
        yield start
    finally:
        for helper in started:
            helper.kill()


def _gone(pid: int, timeout_s: float = 3.0) -> bool:
    """Whether `pid` has exited within `timeout_s` (a zombie counts as exited)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


def test_state_files_are_replaced_whole_and_read_back_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    before = time.time()
    write_state(path, {"pid": 41, "final": False})
    state = read_state(path)
    assert state is not None and state["pid"] == 41 and state["final"] is False
    assert before <= state["updated_at"] <= time.time()
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary file left beside it
    assert read_state(tmp_path / "absent.json") is None
    (tmp_path / "torn.json").write_text('{"pid": 4')
    assert read_state(tmp_path / "torn.json") is None
    (tmp_path / "list.json").write_text("[1, 2]")
    assert read_state(tmp_path / "list.json") is None
    remove_state(path, 42)  # another helper's file: kept
    assert path.exists()
    remove_state(path, 41)
    assert not path.exists()
    remove_state(path, 41)  # already gone: quiet


def test_spawn_waits_for_its_own_state_and_stop_terminates_it(spawn: Spawn, tmp_path: Path) -> None:
    (tmp_path / "ready-0.json").write_text(json.dumps({"pid": 1}))  # left by an earlier helper: must not count
    helper = spawn("ready")
    assert helper.wait_ready(10) is Readiness.READY
    assert helper.state()["pid"] == helper.pid and helper.running
    assert is_helper(helper.pid, TAG) and not is_helper(helper.pid, "resilience.targets.burner")
    helper.stop()
    assert helper.returncode == -signal.SIGTERM and not helper.running
    helper.stop()  # idempotent: a reaped pid is never signalled again
    assert helper.returncode == -signal.SIGTERM
    assert "fake helper ready up" in (tmp_path / "ready-0.log").read_text()  # stdout went to `output`


def test_a_helper_that_exits_before_it_is_ready_is_reported_with_its_code(spawn: Spawn) -> None:
    helper = spawn("exit")
    assert helper.wait_ready(10) is Readiness.EXITED
    assert helper.returncode == 7
    with pytest.raises(FaultError, match=rf"fake helper pid {helper.pid}: no readable state file"):
        helper.state()


def test_a_helper_that_never_gets_ready_is_killed_at_the_timeout(spawn: Spawn) -> None:
    helper = spawn("silent")
    t0 = time.monotonic()
    assert helper.wait_ready(0.5) is Readiness.TIMED_OUT
    assert time.monotonic() - t0 >= 0.5
    assert helper.returncode == -signal.SIGKILL


def test_a_custom_readiness_check_is_used_instead_of_the_state_file(spawn: Spawn) -> None:
    helper = spawn("silent")
    calls: list[float] = []

    def third_time_lucky() -> bool:
        calls.append(time.monotonic())
        return len(calls) >= 3

    assert helper.wait_ready(5, ready=third_time_lucky, poll_s=0) is Readiness.READY
    assert len(calls) == 3 and helper.running


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored_and_says_so(
    spawn: Spawn, caplog: pytest.LogCaptureFixture
) -> None:
    helper = spawn("deaf", name="deaf helper")
    assert helper.wait_ready(10) is Readiness.READY
    with caplog.at_level(logging.WARNING, logger="resilience.targets.helperprocess"):
        helper.stop(timeout_s=0.3)
    assert helper.returncode == -signal.SIGKILL
    assert f"deaf helper pid {helper.pid} ignored SIGTERM for 0.3 s: SIGKILL" in caplog.text


def test_stop_reaches_the_helpers_whole_process_group(spawn: Spawn) -> None:
    helper = spawn("fork")
    assert helper.wait_ready(10) is Readiness.READY
    child = int(helper.state()["child"])
    assert os.getpgid(child) == helper.pid  # it leads its own group, and its children are in it
    helper.stop()
    assert _gone(child), f"the helper's child {child} outlived stop()"


def test_wait_says_which_helper_is_still_running(spawn: Spawn) -> None:
    helper = spawn("ready", name="slow helper")
    with pytest.raises(FaultError, match=rf"slow helper pid {helper.pid} still running after 0.1 s"):
        helper.wait(0.1)


def test_stop_recorded_signals_only_a_process_running_the_module(spawn: Spawn) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert stop_recorded(sleeper.pid, TAG, "fake helper") is False
        assert stop_recorded(0, TAG, "fake helper") is False and stop_recorded(-1, TAG, "fake helper") is False
        time.sleep(0.05)
        assert sleeper.poll() is None  # an unrelated process reusing a recorded pid is never signalled
    finally:
        sleeper.kill()
        sleeper.wait()
    helper = spawn("fork")
    assert helper.wait_ready(10) is Readiness.READY
    child = int(helper.state()["child"])
    assert stop_recorded(helper.pid, TAG, "fake helper") is True
    assert helper.returncode == -signal.SIGTERM and _gone(child)
    assert stop_recorded(helper.pid, TAG, "fake helper") is False  # gone: nothing to stop


def test_stop_recorded_kills_a_helper_that_ignores_sigterm(spawn: Spawn, caplog: pytest.LogCaptureFixture) -> None:
    helper = spawn("deaf")
    assert helper.wait_ready(10) is Readiness.READY
    with caplog.at_level(logging.WARNING, logger="resilience.targets.helperprocess"):
        assert stop_recorded(helper.pid, TAG, "deaf helper", timeout_s=0.3) is True
    assert helper.returncode == -signal.SIGKILL
    assert f"deaf helper pid {helper.pid} outlived SIGTERM for 0.3 s" in caplog.text


def test_a_helper_spawned_with_a_death_signal_dies_with_its_parent(tmp_path: Path) -> None:
    # The parent is a real process we SIGKILL, as a toolkit killed with `kill -9` would be.
    parent_script = textwrap.dedent(
        """
        import signal, subprocess, sys, time
        from resilience.targets.helperprocess import HelperProcess
        helper = HelperProcess.spawn(
            ["sleep", "60"], "orphan", output=subprocess.DEVNULL, death_signal=signal.SIGTERM
        )
        print(helper.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_script], stdout=subprocess.PIPE, text=True)
    with parent:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        parent.kill()
        parent.wait()
    try:
        assert _gone(pid), f"helper {pid} outlived its SIGKILLed parent"
    finally:
        if not _gone(pid, 0):
            os.kill(pid, signal.SIGKILL)
